/*
 * p11fault_fn.h - every function of a PKCS#11 2.40 function list, in the
 * order of CK_FUNCTION_LIST, as one X-macro: the enum of function
 * numbers, the names the control text uses and the wrappers are all made
 * from this one list.  Private to tests/p11fault/.
 *
 * Each entry: X(name, how, own, key, parameters, arguments)
 *   how  - how the slot a call concerns is found: SLOT (its slot
 *          argument), SESSION (the slot of its session), NONE (no slot);
 *   own  - GEN for the generic wrapper, OWN for one written by hand;
 *   key  - the parameter that holds the slot or session (0 for NONE).
 */
#ifndef P11FAULT_FN_H
#define P11FAULT_FN_H

#define P11FAULT_FUNCTIONS(X) \
X(C_Initialize, NONE, OWN, 0, (CK_VOID_PTR a), (a)) \
X(C_Finalize, NONE, OWN, 0, (CK_VOID_PTR r), (r)) \
X(C_GetInfo, NONE, GEN, 0, (CK_INFO_PTR i), (i)) \
X(C_GetFunctionList, NONE, OWN, 0, (CK_FUNCTION_LIST_PTR_PTR l), (l)) \
X(C_GetSlotList, NONE, GEN, 0, \
    (CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n), (p, l, n)) \
X(C_GetSlotInfo, SLOT, GEN, s, (CK_SLOT_ID s, CK_SLOT_INFO_PTR i), (s, i)) \
X(C_GetTokenInfo, SLOT, GEN, s, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), (s, i)) \
X(C_GetMechanismList, SLOT, GEN, s, \
    (CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR l, CK_ULONG_PTR n), (s, l, n)) \
X(C_GetMechanismInfo, SLOT, GEN, s, \
    (CK_SLOT_ID s, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i), (s, t, i)) \
X(C_InitToken, SLOT, OWN, s, \
    (CK_SLOT_ID s, CK_UTF8CHAR_PTR p, CK_ULONG n, CK_UTF8CHAR_PTR l), \
    (s, p, n, l)) \
X(C_InitPIN, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR p, CK_ULONG n), (h, p, n)) \
X(C_SetPIN, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR o, CK_ULONG on, CK_UTF8CHAR_PTR p, \
    CK_ULONG pn), (h, o, on, p, pn)) \
X(C_OpenSession, SLOT, OWN, s, \
    (CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY cb, \
    CK_SESSION_HANDLE_PTR h), (s, f, a, cb, h)) \
X(C_CloseSession, SESSION, OWN, h, (CK_SESSION_HANDLE h), (h)) \
X(C_CloseAllSessions, SLOT, OWN, s, (CK_SLOT_ID s), (s)) \
X(C_GetSessionInfo, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR i), (h, i)) \
X(C_GetOperationState, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR st, CK_ULONG_PTR n), (h, st, n)) \
X(C_SetOperationState, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR st, CK_ULONG n, CK_OBJECT_HANDLE e, \
    CK_OBJECT_HANDLE k), (h, st, n, e, k)) \
X(C_Login, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n), \
    (h, u, p, n)) \
X(C_Logout, SESSION, GEN, h, (CK_SESSION_HANDLE h), (h)) \
X(C_CreateObject, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n, \
    CK_OBJECT_HANDLE_PTR o), (h, t, n, o)) \
X(C_CopyObject, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n, \
    CK_OBJECT_HANDLE_PTR c), (h, o, t, n, c)) \
X(C_DestroyObject, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o), (h, o)) \
X(C_GetObjectSize, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ULONG_PTR n), (h, o, n)) \
X(C_GetAttributeValue, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n), \
    (h, o, t, n)) \
X(C_SetAttributeValue, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n), \
    (h, o, t, n)) \
X(C_FindObjectsInit, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (h, t, n)) \
X(C_FindObjects, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG m, CK_ULONG_PTR n), \
    (h, o, m, n)) \
X(C_FindObjectsFinal, SESSION, GEN, h, (CK_SESSION_HANDLE h), (h)) \
X(C_EncryptInit, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k)) \
X(C_Encrypt, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_EncryptUpdate, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_EncryptFinal, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR on), (h, o, on)) \
X(C_DecryptInit, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k)) \
X(C_Decrypt, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_DecryptUpdate, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_DecryptFinal, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR on), (h, o, on)) \
X(C_DigestInit, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m), (h, m)) \
X(C_Digest, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_DigestUpdate, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn), (h, d, dn)) \
X(C_DigestKey, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k), (h, k)) \
X(C_DigestFinal, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR on), (h, o, on)) \
X(C_SignInit, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k)) \
X(C_Sign, SESSION, OWN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_SignUpdate, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn), (h, d, dn)) \
X(C_SignFinal, SESSION, OWN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR on), (h, o, on)) \
X(C_SignRecoverInit, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k)) \
X(C_SignRecover, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_VerifyInit, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k)) \
X(C_Verify, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR sg, \
    CK_ULONG sn), (h, d, dn, sg, sn)) \
X(C_VerifyUpdate, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn), (h, d, dn)) \
X(C_VerifyFinal, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR sg, CK_ULONG sn), (h, sg, sn)) \
X(C_VerifyRecoverInit, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (h, m, k)) \
X(C_VerifyRecover, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR sg, CK_ULONG sn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, sg, sn, o, on)) \
X(C_DigestEncryptUpdate, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_DecryptDigestUpdate, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_SignEncryptUpdate, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_DecryptVerifyUpdate, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, \
    CK_ULONG_PTR on), (h, d, dn, o, on)) \
X(C_GenerateKey, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n, \
    CK_OBJECT_HANDLE_PTR k), (h, m, t, n, k)) \
X(C_GenerateKeyPair, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, \
    CK_ULONG pn, CK_ATTRIBUTE_PTR vt, CK_ULONG vn, CK_OBJECT_HANDLE_PTR pk, \
    CK_OBJECT_HANDLE_PTR vk), (h, m, pt, pn, vt, vn, pk, vk)) \
X(C_WrapKey, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w, \
    CK_OBJECT_HANDLE k, CK_BYTE_PTR o, CK_ULONG_PTR on), (h, m, w, k, o, on)) \
X(C_UnwrapKey, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u, \
    CK_BYTE_PTR w, CK_ULONG wn, CK_ATTRIBUTE_PTR t, CK_ULONG n, \
    CK_OBJECT_HANDLE_PTR k), (h, m, u, w, wn, t, n, k)) \
X(C_DeriveKey, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE b, \
    CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k), \
    (h, m, b, t, n, k)) \
X(C_SeedRandom, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn), (h, d, dn)) \
X(C_GenerateRandom, SESSION, GEN, h, \
    (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dn), (h, d, dn)) \
X(C_GetFunctionStatus, SESSION, GEN, h, (CK_SESSION_HANDLE h), (h)) \
X(C_CancelFunction, SESSION, GEN, h, (CK_SESSION_HANDLE h), (h)) \
X(C_WaitForSlotEvent, NONE, GEN, 0, \
    (CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r), (f, s, r))

#endif
