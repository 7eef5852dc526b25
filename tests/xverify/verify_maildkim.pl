#!/usr/bin/perl
# verify_maildkim.pl - independent DKIM verifier built on Mail::DKIM, no network.
#
# Usage: verify_maildkim.pl [--expect-fail] [--allow-skip] KEYTABLE FILE...
#
# KEYTABLE: one key per line, "<selector>._domainkey.<domain> <TXT record>";
# blank lines and '#' comments are ignored. Mail::DKIM gets its keys from
# this table only: a fake resolver object handed to Mail::DKIM::DNS::resolver
# answers every TXT query from it (NXDOMAIN for unknown names), so no packet
# ever leaves the process.
#
# Each FILE is a complete message as on the wire (CRLF line endings) carrying
# one or more DKIM-Signature fields; every signature is checked through
# Mail::DKIM::Verifier's per-signature results.
#
# Mail::DKIM 1.20230212 has no ed25519-sha256 support (Signature.pm's
# get_algorithm_class knows only rsa-sha1/rsa-sha256; such signatures come
# back "invalid (unsupported algorithm ed25519-sha256)"). Those signatures are
# reported as SKIP and never count as a pass. A file whose signatures are all
# skipped is reported "SKIP <file>" and makes the exit status 2 unless
# --allow-skip is given. A file with no DKIM-Signature never passes, nor
# does a file with a bare LF (not wire format).
#
# Without --expect-fail a file passes when all of its (non-skipped)
# signatures verify; with --expect-fail (tamper tests) it passes when at
# least one non-skipped signature fails.
#
# Output: "PASS <file>", "FAIL <file>: <reasons>" or "SKIP <file>: ..." per
# file, then "verify_maildkim: N passed, M failed, K skipped".
# Exit status: 0 all as expected; 1 any FAIL; 2 only SKIPs went wrong.
use strict;
use warnings;
use Getopt::Long;
use Mail::DKIM::Verifier;
use Mail::DKIM::DNS;
use Net::DNS;

# ---------------------------------------------------------------------------
# Fake Net::DNS::Resolver: just enough for Mail::DKIM::DNS::query(), which
# calls send($name, $type) and then looks at the reply packet's rcode and
# answer section (or at errorstring() when there is no reply).
package FakeResolver;

sub new {
    my ( $class, $keys ) = @_;
    return bless { keys => $keys, err => 'NOERROR' }, $class;
}

sub send {
    my ( $self, $name, $type ) = @_;
    my $reply = Net::DNS::Packet->new( $name, $type, 'IN' );
    $reply->header->qr(1);
    my $txt = $self->{keys}{ lc( $name =~ s/\.\z//r ) };
    if ( uc($type) eq 'TXT' && defined $txt ) {
        # DNS character-strings hold at most 255 octets: split like a zone would.
        my @chunks = unpack '(a255)*', $txt;
        $reply->push( answer => Net::DNS::RR->new(
            name => $name, type => 'TXT', ttl => 300, txtdata => [@chunks] ) );
        $reply->header->rcode('NOERROR');
    }
    else {
        $reply->header->rcode('NXDOMAIN');
    }
    return $reply;
}

sub errorstring { return $_[0]{err} }

package main;

sub load_keytable {
    my ($path) = @_;
    my %keys;
    open my $fh, '<', $path or die "cannot open $path: $!\n";
    while ( my $line = <$fh> ) {
        $line =~ s/\s+\z//;
        $line =~ s/\A\s+//;
        next if $line eq '' || $line =~ /\A#/;
        my ( $name, $txt ) = split ' ', $line, 2;
        die "$path:$.: expected '<name> <TXT record>'\n" unless defined $txt;
        $name = lc $name;
        $name =~ s/\.\z//;
        $keys{$name} = $txt;
    }
    return \%keys;
}

# Verify one file. Returns a list of [status, text] per signature, where
# status is 'pass', 'fail' or 'skip'; dies if the file cannot be read.
sub verify_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "cannot open: $!\n";
    my $msg = do { local $/; <$fh> };
    close $fh;
    # Mail::DKIM only splits lines at CRLF: with bare LFs the whole message
    # would silently become one header. Refuse anything not in wire format.
    my $bare_lf = () = $msg =~ /(?<!\015)\012/g;
    die "$bare_lf bare LF line ending(s); the file must be in wire format (CRLF)\n"
      if $bare_lf;
    my $dkim = Mail::DKIM::Verifier->new();
    for ( my $off = 0 ; $off < length $msg ; $off += 65536 ) {
        $dkim->PRINT( substr( $msg, $off, 65536 ) );
    }
    $dkim->CLOSE;

    my @res;
    my $i = 0;
    foreach my $sig ( $dkim->signatures ) {
        my $alg    = $sig->algorithm // '?';
        my $sel    = $sig->selector  // '?';
        my $detail = $sig->result_detail // $sig->result // 'no result';
        my $status =
            ( $sig->result // '' ) eq 'pass' ? 'pass'
          : ( $alg =~ /\Aed25519/i && $detail =~ /unsupported algorithm/ )
          ? 'skip'
          : 'fail';
        push @res, [ $status, "sig#$i($alg $sel) $detail" ];
        $i++;
    }

    # Mail::DKIM silently drops DKIM-Signature fields it cannot parse at all;
    # count them in the raw header section so they are not overlooked.
    my ($head) = split /\015\012\015\012/, $msg, 2;
    my $present = () = ( $head // '' ) =~ /^DKIM-Signature[ \t]*:/mgi;
    push @res, [ 'fail', "unparsable DKIM-Signature: "
          . ( $dkim->result_detail // 'rejected by parser' ) ]
      for 1 .. $present - @res;
    return @res;
}

my ( $expect_fail, $allow_skip ) = ( 0, 0 );
GetOptions( 'expect-fail' => \$expect_fail, 'allow-skip' => \$allow_skip )
  && @ARGV >= 2
  or die "usage: $0 [--expect-fail] [--allow-skip] KEYTABLE FILE...\n";
my $keytable = shift @ARGV;
Mail::DKIM::DNS::resolver( FakeResolver->new( load_keytable($keytable) ) );

my ( $npass, $nfail, $nskip ) = ( 0, 0, 0 );
foreach my $path (@ARGV) {
    my @res = eval { verify_file($path) };
    my $err = $@;
    my @fail = grep { $_->[0] eq 'fail' } @res;
    my @skip = grep { $_->[0] eq 'skip' } @res;
    my $checked = @res - @skip;    # signatures Mail::DKIM could judge
    my $note = @skip ? ' [' . join( '; ', map { "SKIP $_->[1]" } @skip ) . ']' : '';

    if ($err) {
        chomp $err;
        $nfail++;
        print "FAIL $path: cannot verify: $err\n";
    }
    elsif ( !@res ) {
        $nfail++;
        print "FAIL $path: no DKIM-Signature header field\n";
    }
    elsif ( !$checked ) {
        $nskip++;
        print "SKIP $path: no signature this Mail::DKIM can check$note\n";
    }
    elsif ($expect_fail) {
        if (@fail) {
            $npass++;
            print "PASS $path (rejected as expected: "
              . join( '; ', map { $_->[1] } @fail ) . ")$note\n";
        }
        else {
            $nfail++;
            print "FAIL $path: all signatures verified: "
              . join( '; ', map { $_->[1] } @res ) . "\n";
        }
    }
    elsif (@fail) {
        $nfail++;
        print "FAIL $path: " . join( '; ', map { $_->[1] } @fail ) . "$note\n";
    }
    else {
        $npass++;
        print "PASS $path$note\n";
    }
}
print "verify_maildkim: $npass passed, $nfail failed, $nskip skipped\n";
exit 1 if $nfail;
exit 2 if $nskip && !$allow_skip;
exit 0;
