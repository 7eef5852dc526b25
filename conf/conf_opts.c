/*
 * conf_opts.c - the options of the configuration file as libconfuse
 * reads them (see conf_int.h): every name, its default and the parse
 * callback that checks its value (conf_values.c).  The main file takes
 * conf_root_opts; an included file, conf_file_opts (institutions only).
 * The documentation of each option is man/p11dkim.conf.5.
 */
#include <confuse.h>

#include "conf_int.h"

static cfg_opt_t inst_opts[] = {
	CFG_STR_LIST_CB("domains", NULL, CFGF_NODEFAULT, cb_domain),
	CFG_BOOL("subdomains", cfg_false, CFGF_NONE),
	CFG_STR("token-label", NULL, CFGF_NODEFAULT),
	CFG_STR("token-serial", NULL, CFGF_NODEFAULT),
	CFG_STR_CB("pin", NULL, CFGF_NODEFAULT, cb_pin),
	CFG_STR_LIST_CB("selectors", NULL, CFGF_NODEFAULT, cb_selector),
	CFG_STR_CB("active-selector", NULL, CFGF_NODEFAULT, cb_selector),
	CFG_STR_CB("algorithm", "rsa-sha256", CFGF_NONE, cb_alg),
	CFG_STR_CB("key-type", "rsa2048", CFGF_NONE, cb_key_type),
	CFG_BOOL("optional", cfg_false, CFGF_NONE),
	CFG_STR_CB("canonicalization", "relaxed/relaxed", CFGF_NONE, cb_canon),
	CFG_STR_LIST_CB("headers", NULL, CFGF_NODEFAULT, cb_header_name),
	CFG_STR_LIST_CB("oversign-headers", NULL, CFGF_NODEFAULT,
	    cb_header_name),
	CFG_BOOL("timestamp", cfg_true, CFGF_NONE),
	CFG_INT_CB("expire", 0, CFGF_NONE, cb_seconds),
	CFG_STR_LIST_CB("allow-uids", NULL, CFGF_NODEFAULT, cb_user),
	CFG_STR_LIST_CB("allow-gids", NULL, CFGF_NODEFAULT, cb_group),
	CFG_STR_LIST_CB("milter-hosts", NULL, CFGF_NODEFAULT, cb_host),
	CFG_STR_LIST_CB("milter-logins", NULL, CFGF_NODEFAULT, cb_login),
	CFG_BOOL("dual-sign", cfg_false, CFGF_NONE),
	CFG_STR_LIST_CB("dual-selectors", NULL, CFGF_NODEFAULT, cb_selector),
	CFG_INT_CB("rate", 0, CFGF_NODEFAULT, cb_quota),
	CFG_INT_CB("burst", 0, CFGF_NODEFAULT, cb_quota),
	CFG_INT_CB("daily-cap", 0, CFGF_NODEFAULT, cb_quota),
	CFG_BOOL("sign-pending", cfg_false, CFGF_NODEFAULT),
	CFG_END()
};

static cfg_opt_t listen_opts[] = {
	CFG_STR_CB("owner", NULL, CFGF_NODEFAULT, cb_user),
	CFG_STR_CB("group", NULL, CFGF_NODEFAULT, cb_group),
	CFG_STR_CB("mode", "0660", CFGF_NONE, cb_mode),
	CFG_END()
};

static char default_internal_hosts[] = "{\"127.0.0.1\", \"::1\"}";

static cfg_opt_t milter_opts[] = {
	CFG_STR_CB("owner", NULL, CFGF_NODEFAULT, cb_user),
	CFG_STR_CB("group", NULL, CFGF_NODEFAULT, cb_group),
	CFG_STR_CB("mode", "0660", CFGF_NONE, cb_mode),
	CFG_STR_LIST_CB("internal-hosts", default_internal_hosts, CFGF_NONE,
	    cb_host),
	CFG_BOOL("sign-authenticated", cfg_true, CFGF_NONE),
	CFG_BOOL("single-tenant", cfg_false, CFGF_NONE),
	CFG_STR_CB("on-token-failure", "tempfail", CFGF_NONE, cb_failure),
	CFG_STR_CB("signing-domain", "from", CFGF_NONE, cb_signing_domain),
	CFG_STR_CB("stats-file", NULL, CFGF_NODEFAULT, cb_path),
	CFG_END()
};

cfg_opt_t conf_root_opts[] = {
	CFG_STR_LIST("include", NULL, CFGF_NODEFAULT),
	CFG_STR_CB("pkcs11-module", NULL, CFGF_NODEFAULT, cb_path),
	CFG_STR_CB("pkcs11-init-args", NULL, CFGF_NODEFAULT, cb_init_args),
	CFG_STR_CB("provider-zone", NULL, CFGF_NODEFAULT, cb_domain),
	CFG_STR_CB("record-name", NULL, CFGF_NODEFAULT, cb_record_name),
	CFG_STR_LIST_CB("selectors", NULL, CFGF_NODEFAULT, cb_selector),
	CFG_STR_CB("dual-record-name", NULL, CFGF_NODEFAULT, cb_record_name),
	CFG_STR_LIST_CB("dual-selectors", NULL, CFGF_NODEFAULT, cb_selector),
	CFG_STR("spf-include", NULL, CFGF_NODEFAULT),
	CFG_STR_CB("state-dir", NULL, CFGF_NODEFAULT, cb_path),
	CFG_STR_CB("ceremony-log", NULL, CFGF_NODEFAULT, cb_path),
	CFG_STR_CB("user", NULL, CFGF_NODEFAULT, cb_user),
	CFG_STR_CB("signer-user", NULL, CFGF_NODEFAULT, cb_user),
	CFG_BOOL("require-separate-users", cfg_true, CFGF_NONE),
	CFG_STR_CB("log", "syslog", CFGF_NONE, cb_log),
	CFG_STR_CB("pidfile", NULL, CFGF_NODEFAULT, cb_path),
	CFG_INT_CB("workers", 64, CFGF_NONE, cb_count),
	CFG_INT_CB("signer-threads", 8, CFGF_NONE, cb_count),
	CFG_INT_CB("sessions", 8, CFGF_NONE, cb_count),
	CFG_BOOL("strict-start", cfg_false, CFGF_NONE),
	CFG_INT_CB("open-threads", 4, CFGF_NONE, cb_count),
	CFG_INT_CB("max-sessions", 1024, CFGF_NONE, cb_count),
	CFG_INT_CB("max-header-bytes", 65536, CFGF_NONE, cb_count),
	CFG_INT_CB("max-message-bytes", 104857600, CFGF_NONE, cb_count),
	CFG_INT_CB("idle-timeout", 60, CFGF_NONE, cb_timeout),
	CFG_INT_CB("io-timeout", 30, CFGF_NONE, cb_timeout),
	CFG_INT_CB("request-timeout", 300, CFGF_NONE, cb_timeout),
	CFG_INT_CB("max-connections-per-uid", 0, CFGF_NODEFAULT, cb_count),
	CFG_STR_LIST_CB("stats-allow-uids", NULL, CFGF_NODEFAULT, cb_user),
	CFG_STR_LIST_CB("stats-allow-gids", NULL, CFGF_NODEFAULT, cb_group),
	CFG_INT_CB("drain-timeout", 30, CFGF_NONE, cb_timeout),
	CFG_STR_CB("metrics-listen", NULL, CFGF_NODEFAULT, cb_inet),
	CFG_BOOL("metrics-allow-remote", cfg_false, CFGF_NONE),
	CFG_BOOL("sandbox", cfg_true, CFGF_NONE),
	CFG_INT_CB("rate", 0, CFGF_NODEFAULT, cb_quota),
	CFG_INT_CB("burst", 0, CFGF_NODEFAULT, cb_quota),
	CFG_INT_CB("daily-cap", 0, CFGF_NODEFAULT, cb_quota),
	CFG_BOOL("sign-pending", cfg_false, CFGF_NODEFAULT),
	CFG_STR_CB("trail-dir", NULL, CFGF_NODEFAULT, cb_path),
	CFG_INT_CB("trail-sync", 1, CFGF_NONE, cb_seconds),
	CFG_INT_CB("trail-open-files", 16, CFGF_NONE, cb_count),
	CFG_STR_CB("trail-on-failure", "tempfail", CFGF_NONE,
	    cb_trail_failure),
	CFG_SEC("listen", listen_opts, CFGF_MULTI | CFGF_TITLE |
	    CFGF_NO_TITLE_DUPES),
	CFG_SEC("milter", milter_opts, CFGF_MULTI | CFGF_TITLE),
	CFG_SEC("institution", inst_opts, CFGF_MULTI | CFGF_TITLE |
	    CFGF_NO_TITLE_DUPES),
	CFG_END()
};

/* An included file holds institutions only. */
cfg_opt_t conf_file_opts[] = {
	CFG_SEC("institution", inst_opts, CFGF_MULTI | CFGF_TITLE |
	    CFGF_NO_TITLE_DUPES),
	CFG_END()
};
