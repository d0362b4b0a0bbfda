# SPDX-License-Identifier: ISC
"""t_tls.py - echod's tls: listeners with real clients: Python's ssl and
openssl s_client.  Byte-exact echo of 16 MiB while the client reads as it
writes; backpressure (a client that sends and never reads leaves a bounded
queue); the peer's close_notify and a bare FIN (every byte still echoed);
a client that trusts another certificate (handshake failure counted and
logged with OpenSSL's reason); a client that sends no ClientHello (closed
by --idle-timeout); plaintext on the TLS port; TLS 1.1 refused; plain and
TLS listeners side by side; --tls-ciphers; SIGHUP reload (new connections get the new
certificate, an open one keeps echoing, a broken file keeps the old one
and says why); the errors of bad files and options; the stall timeout and
the drain on SIGTERM.  Run by t_tls.sh, which skips without python3 or
openssl; a build without TLS only checks that tls: is refused.

The certificates are made at run time in a temporary directory: no key is
committed.  Every wait is bounded and stretched under ECHOD_WRAPPER
(valgrind) or a sanitizer build, as tests/harness.c does.
"""

import hashlib
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings

ECHOD = os.environ.get("ECHOD", "src/echod")
WRAPPER = os.environ.get("ECHOD_WRAPPER", "").split()
SANITIZED = bool(os.environ.get("ECHOD_SANITIZE", ""))

# Plaintext bytes echoed in the big test: the 16 MiB the feature promises.
BIG = 16 * 1024 * 1024

# The high mark of the backpressure test, and what may pass it: libevent
# decrypts a whole TLS record (16 KiB) past the read it asked for, plus
# one read.
HIGH_WATER = 64 * 1024
RECORD_SLACK = 16 * 1024 + 4096

# Ciphertext the clients keep waiting for the socket at most: enough to
# keep it busy, small enough that "the socket takes nothing" shows soon.
PENDING_MAX = 256 * 1024

n = 0
failed = 0


def tmo(secs):
    """A deadline of secs on a bare build, stretched for slow builds."""
    if WRAPPER:
        return secs * 10
    if SANITIZED:
        return secs * 3
    return secs


def ok(cond, what):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, what), flush=True)
    return cond


def skip(why):
    global n
    n += 1
    print("ok %d # SKIP %s" % (n, why), flush=True)


def diag(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


def is_eq(got, want, what):
    if not ok(got == want, what):
        diag("  got: %r\n  expected: %r" % (got, want))


class Daemon:
    """One echod, its log read by a thread, its counters on SIGUSR1."""

    live = []

    def __init__(self, *args):
        argv = WRAPPER + [ECHOD, "-v"] + list(args)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        Daemon.live.append(self)
        self.log = ""
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.tls_port = self.plain_port = None
        if self.wait_log("ready:", 0, tmo(10)) < 0:
            self.stop()
            raise RuntimeError("echod did not start:\n" + self.log)
        for m in re.finditer(r"listening on (tls:)?[^ \n]*:(\d+)",
                             self.log):
            if m.group(1):
                self.tls_port = int(m.group(2))
            else:
                self.plain_port = int(m.group(2))

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self.cond:
                self.log += raw.decode("utf-8", "replace")
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_log(self, text, start, secs):
        """Where text first appears in the log at or after start, or -1."""
        end = time.monotonic() + secs
        with self.cond:
            while True:
                at = self.log.find(text, start)
                left = end - time.monotonic()
                if at >= 0 or left <= 0 or not self.reader.is_alive():
                    return self.log.find(text, start)
                self.cond.wait(min(left, 0.1))

    def stats(self):
        """The counters, from the stats line SIGUSR1 makes."""
        start = len(self.log)
        self.proc.send_signal(signal.SIGUSR1)
        at = self.wait_log("stats: ", start, tmo(5))
        if at < 0:
            raise RuntimeError("no stats line")
        self.wait_log("\n", at, tmo(5))
        line = self.log[at:self.log.index("\n", at)]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}

    def wait_stat(self, name, want, secs):
        """Poll until counter name is at least want; the last counters."""
        end = time.monotonic() + secs
        while True:
            st = self.stats()
            if st.get(name, 0) >= want or time.monotonic() > end:
                return st
            time.sleep(0.05)

    @classmethod
    def stop_all(cls):
        """After a test that failed half way: no daemon outlives it."""
        while cls.live:
            d = cls.live.pop()
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()

    def stop(self, sig=signal.SIGTERM):
        """Signal it (unless sig is None) and wait: its exit status."""
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(tmo(20))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(tmo(5))
        return self.proc.returncode


def run_echod(*args):
    """echod to its end: exit status and what it printed."""
    p = subprocess.run(WRAPPER + [ECHOD] + list(args),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=tmo(20))
    return p.returncode, p.stdout.decode("utf-8", "replace")


class TlsClient:
    """
    A TLS client on a non-blocking socket through memory BIOs: it never
    blocks, so one thread sends and reads at once, and it can leave the
    echo unread while it knows exactly what the socket took.
    """

    def __init__(self, port, cafile, version=None, ciphers=None):
        self.raw = socket.create_connection(("127.0.0.1", port), tmo(5))
        self.raw.setblocking(False)
        self.rbio, self.wbio = ssl.MemoryBIO(), ssl.MemoryBIO()
        ctx = ssl.create_default_context(cafile=cafile)
        if ciphers is not None:
            ctx.set_ciphers(ciphers)
        if version is not None:
            # Old protocols need the lowest security level to be offered,
            # and Python warns that they are old.
            if ciphers is None:
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ctx.maximum_version = version
        self.tls = ctx.wrap_bio(self.rbio, self.wbio,
                                server_hostname="localhost")
        self.pending = b""
        self.closed = False	# close_notify came
        self.raw_eof = False

    def flush(self):
        """Hand ciphertext to the socket; True if it took it all."""
        self.pending += self.wbio.read()
        while self.pending and not self.raw_eof:
            try:
                sent = self.raw.send(self.pending)
            except BlockingIOError:
                return False
            except OSError:
                # Closed by echod, a timeout say: read what came before.
                self.raw_eof = True
                return False
            self.pending = self.pending[sent:]
        return not self.pending

    def fill(self):
        """Ciphertext from the socket into OpenSSL; False if none."""
        if self.raw_eof:
            return False
        try:
            data = self.raw.recv(65536)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.raw_eof = True
            self.rbio.write_eof()
        else:
            self.rbio.write(data)
        return True

    def wait(self, secs):
        """Until the socket is readable, or writable with ciphertext."""
        w = [self.raw] if self.pending else []
        select.select([self.raw], w, [], secs)

    def handshake(self, secs):
        end = time.monotonic() + secs
        while True:
            try:
                self.tls.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                self.flush()	# the alert that tells echod why
                raise
            self.flush()
            if not self.fill():
                if self.raw_eof or time.monotonic() > end:
                    raise TimeoutError("handshake")
                self.wait(0.1)

    def refused(self, secs):
        """Try the handshake and hang up: True if it failed."""
        try:
            self.handshake(secs)
            return False
        except (ssl.SSLError, TimeoutError):
            return True
        finally:
            self.close()

    def read(self):
        """All the plaintext there is now."""
        out = []
        while not self.closed:
            try:
                data = self.tls.read(65536)
            except ssl.SSLWantReadError:
                if not self.fill():
                    break
                continue
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            except ssl.SSLEOFError:
                self.raw_eof = True
                break
            if not data:
                # Python's way of saying close_notify came, once ours
                # has not been sent.
                self.closed = True
                break
            out.append(data)
        self.flush()
        return b"".join(out)

    def echo(self, data, secs, chunk=16384):
        """Send data while reading its echo; the echo received."""
        sent = 0

        def push():
            nonlocal sent
            while sent < len(data) and len(self.pending) < PENDING_MAX:
                self.tls.write(data[sent:sent + chunk])
                sent += len(data[sent:sent + chunk])
                self.pending += self.wbio.read()
            self.flush()

        return self.read_until(len(data), secs, push)

    def fill_unread(self, secs):
        """
        Send without reading until the socket has taken nothing for
        secs: the plaintext bytes that went out whole.
        """
        block = os.urandom(16384)
        sent = 0
        stuck = time.monotonic()
        while time.monotonic() - stuck < secs and not self.raw_eof:
            if len(self.pending) < PENDING_MAX:
                self.tls.write(block)
                sent += len(block)
                self.pending += self.wbio.read()
            before = len(self.pending)
            self.flush()
            if len(self.pending) < before:
                stuck = time.monotonic()
            else:
                time.sleep(0.02)
        return sent, block

    def read_until(self, count, secs, each=None):
        """Read until count bytes or secs pass, calling each first."""
        end = time.monotonic() + secs
        got = []
        have = 0
        while have < count and time.monotonic() < end:
            if each is not None:
                each()
            piece = self.read()
            got.append(piece)
            have += len(piece)
            if not piece:
                if self.closed or self.raw_eof:
                    break
                self.wait(0.1)
        return b"".join(got)

    def wait_closed(self, secs):
        """Read until the server has closed; True if it did in time."""
        end = time.monotonic() + secs
        while time.monotonic() < end:
            self.read()
            if self.closed or self.raw_eof:
                return True
            self.wait(0.1)
        return False

    def fingerprint(self):
        return hashlib.sha256(self.tls.getpeercert(True)).hexdigest()

    def close(self):
        self.raw.close()


def make_cert(d, name):
    """A throwaway self-signed P-256 certificate for localhost."""
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost", "-keyout", key,
                    "-out", cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return cert, key


def fingerprint_of(cert):
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def tls_args(cert, key, *more):
    return ["-l", "tls:127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
            *more]


def test_big_echo(a):
    """16 MiB byte-exact, read while written; the counters agree."""
    d = Daemon(*tls_args(*a))
    data = os.urandom(BIG)
    c = TlsClient(d.tls_port, a[0])
    c.handshake(tmo(5))
    got = c.echo(data, tmo(60))
    is_eq(len(got), BIG, "16 MiB echoed over TLS: every byte back")
    ok(hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
       "16 MiB echoed over TLS: byte-exact (SHA-256)")
    c.close()
    st = d.wait_stat("tls_closed", 0, 0)
    ok(st["bytes_in"] == BIG and st["bytes_out"] == BIG,
       "counters: bytes_in = bytes_out = 16 MiB of plaintext (got %d, %d)"
       % (st["bytes_in"], st["bytes_out"]))
    is_eq(st["tls_handshakes"], 1, "counters: one handshake completed")
    is_eq(d.stop(), 0, "echod exits 0 after the big echo")


def test_backpressure(a):
    """
    A client that sends and never reads: echod stops reading at the high
    mark (bytes_in - bytes_out bounded, bytes_in still), then echoes every
    byte once the client reads.
    """
    d = Daemon(*tls_args(*a, "--high-water", "64k", "--low-water", "16k"))
    c = TlsClient(d.tls_port, a[0])
    c.handshake(tmo(5))
    sent, block = c.fill_unread(tmo(1))
    st1 = d.stats()
    time.sleep(tmo(0.5))
    st2 = d.stats()
    queued = st2["bytes_in"] - st2["bytes_out"]
    ok(0 < queued <= HIGH_WATER + RECORD_SLACK,
       "unread: echod's queue %d is within --high-water 64k and a record"
       % queued)
    is_eq(st2["bytes_in"], st1["bytes_in"],
          "unread: echod has stopped reading (bytes_in still)")
    ok(sent > 2 * HIGH_WATER, "unread: the client sent %d, more than "
       "echod holds: the rest waits in TCP" % sent)
    got = c.read_until(sent, tmo(20))
    is_eq(len(got), sent, "after reading: every byte sent came back")
    ok(got == block * (sent // len(block)),
       "after reading: byte-exact")
    more = os.urandom(100000)
    ok(c.echo(more, tmo(10)) == more,
       "after backpressure the connection echoes again")
    c.close()
    is_eq(d.stop(), 0, "echod exits 0 after backpressure")


def test_ends(a):
    """
    The peer's close_notify and a bare FIN, each after 1 MiB sent without
    reading: echod echoes all that is pending, then closes, with its own
    close_notify.  Both are counted as eof_closed.
    """
    d = Daemon(*tls_args(*a))
    for how in ("close_notify", "FIN"):
        c = TlsClient(d.tls_port, a[0])
        c.handshake(tmo(5))
        data = os.urandom(1024 * 1024)
        c.tls.write(data)
        if how == "close_notify":
            try:
                c.tls.unwrap()
            except ssl.SSLWantReadError:
                pass
        # More than echod and TCP hold: read while the rest goes out.
        got = b""
        end = time.monotonic() + tmo(20)
        while not c.flush() and time.monotonic() < end:
            got += c.read()
            c.wait(0.1)
        if how == "FIN":
            c.raw.shutdown(socket.SHUT_WR)
        got += c.read_until(len(data) - len(got), tmo(20))
        ok(got == data, "%s after 1 MiB: every byte echoed (%d of %d)"
           % (how, len(got), len(data)))
        ok(c.wait_closed(tmo(5)), "%s: echod closes after the echo" % how)
        ok(c.closed, "%s: echod ends with close_notify" % how)
        c.close()
    st = d.wait_stat("eof_closed", 2, tmo(5))
    is_eq(st["eof_closed"], 2, "both ends counted as eof_closed")
    is_eq(st["tls_closed"], 0, "neither is a TLS error")
    is_eq(d.stop(), 0, "echod exits 0 after the ends")


def test_handshake_failures(a, other):
    """
    A client that trusts another certificate, plaintext on the TLS port,
    TLS 1.1, and a client that sends no ClientHello: each is closed and
    counted, and -v gives OpenSSL's reason.
    """
    d = Daemon(*tls_args(*a, "--idle-timeout", "1"))
    c = TlsClient(d.tls_port, other[0])
    try:
        c.handshake(tmo(5))
        verified = True
    except ssl.SSLCertVerificationError:
        verified = False
    ok(not verified, "wrong certificate: the client refuses the handshake")
    c.close()
    st = d.wait_stat("tls_closed", 1, tmo(5))
    is_eq(st["tls_closed"], 1, "wrong certificate: counted as tls_closed")
    is_eq(st["tls_handshake_failed"], 1,
          "wrong certificate: counted as tls_handshake_failed")
    ok(d.wait_log("tls: error:", 0, tmo(5)) >= 0 and
       re.search(r"tls: error:\w+:SSL routines::tlsv1 alert unknown ca",
                 d.log) is not None,
       "wrong certificate: -v logs OpenSSL's reason (unknown ca)")

    s = socket.create_connection(("127.0.0.1", d.tls_port), tmo(5))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    s.settimeout(tmo(5))
    try:
        back = s.recv(100)
    except OSError:
        back = b""
    s.close()
    ok(b"GET" not in back, "plaintext on the TLS port: nothing echoed")
    st = d.wait_stat("tls_closed", 2, tmo(5))
    is_eq(st["tls_closed"], 2, "plaintext on the TLS port: tls_closed")
    ok(re.search(r"tls: error:\w+:SSL routines::(http request|wrong "
                 r"version number|packet length too long)", d.log)
       is not None, "plaintext on the TLS port: -v says why")

    try:
        c = TlsClient(d.tls_port, a[0], ssl.TLSVersion.TLSv1_1)
    except (ValueError, ssl.SSLError) as e:
        c = None
        skip("this Python cannot offer TLS 1.1: %s" % e)
    if c is not None:
        ok(c.refused(tmo(5)), "TLS 1.1: no handshake")
        st = d.wait_stat("tls_closed", 3, tmo(5))
        ok(st["tls_handshakes"] == 0 and st["tls_handshake_failed"] >= 2,
           "TLS 1.1: no handshake counted as completed")

    before = d.stats()
    s = socket.create_connection(("127.0.0.1", d.tls_port), tmo(5))
    s.settimeout(tmo(6))
    t0 = time.monotonic()
    try:
        end = s.recv(1)
    except OSError:
        end = b""
    took = time.monotonic() - t0
    s.close()
    ok(end == b"" and took < tmo(6), "no ClientHello: closed after %.1fs "
       "by --idle-timeout 1" % took)
    st = d.wait_stat("idle_closed", before["idle_closed"] + 1, tmo(5))
    is_eq(st["idle_closed"], before["idle_closed"] + 1,
          "no ClientHello: counted as idle_closed")
    is_eq(st["tls_handshake_failed"], before["tls_handshake_failed"] + 1,
          "no ClientHello: counted as tls_handshake_failed")
    ok(d.wait_log("idle timeout: in the TLS handshake", 0, tmo(5)) >= 0,
       "no ClientHello: -v says the handshake timed out")
    is_eq(st["active"], 0, "every failed handshake is closed")
    is_eq(d.stop(), 0, "echod exits 0 after the failed handshakes")


def test_s_client_and_plain(a):
    """
    openssl s_client echoes through the TLS listener (TLS 1.3 and 1.2)
    while a plain client echoes on the plain one; s_client's close_notify
    ends the connection cleanly.
    """
    d = Daemon("-l", "127.0.0.1:0", *tls_args(*a))
    plain = socket.create_connection(("127.0.0.1", d.plain_port), tmo(5))
    for version in ("-tls1_3", "-tls1_2"):
        p = subprocess.Popen(["openssl", "s_client", version, "-connect",
                              "127.0.0.1:%d" % d.tls_port, "-servername",
                              "localhost", "-CAfile", a[0],
                              "-verify_return_error", "-quiet",
                              "-no_ign_eof"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        line = b"hello through s_client %s\n" % version.encode()
        p.stdin.write(line)
        p.stdin.flush()
        out = b""
        end = time.monotonic() + tmo(10)
        while line not in out and time.monotonic() < end:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                piece = os.read(p.stdout.fileno(), 4096)
                if not piece:
                    break
                out += piece
        ok(line in out, "s_client %s: the line comes back" % version)
        p.stdin.close()
        try:
            p.wait(tmo(10))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        is_eq(p.returncode, 0, "s_client %s: clean end" % version)
        p.stdout.close()
        p.stderr.close()
        plain.sendall(b"plain beside TLS\n")
        plain.settimeout(tmo(5))
        ok(plain.recv(100) == b"plain beside TLS\n",
           "plain listener echoes beside the TLS one (%s)" % version)
    plain.close()
    st = d.wait_stat("eof_closed", 3, tmo(5))
    is_eq(st["tls_handshakes"], 2, "two handshakes")
    is_eq(st["eof_closed"], 3, "s_client twice and the plain client: "
          "eof_closed")
    is_eq(st["tls_closed"] + st["error_closed"], 0, "no errors")
    is_eq(d.stop(), 0, "echod exits 0 after s_client")


def test_ciphers(a):
    """
    --tls-ciphers limits TLS 1.2 to the list: a client offering only
    another cipher gets no handshake, one offering it gets it.
    """
    d = Daemon(*tls_args(*a, "--tls-ciphers",
                         "ECDHE-ECDSA-AES256-GCM-SHA384"))
    tls12 = ssl.TLSVersion.TLSv1_2
    c = TlsClient(d.tls_port, a[0], tls12, "ECDHE-ECDSA-AES128-GCM-SHA256")
    ok(c.refused(tmo(5)), "--tls-ciphers: a TLS 1.2 client without the "
       "cipher is refused")
    c = TlsClient(d.tls_port, a[0], tls12, "ECDHE-ECDSA-AES256-GCM-SHA384")
    c.handshake(tmo(5))
    is_eq(c.tls.cipher()[0], "ECDHE-ECDSA-AES256-GCM-SHA384",
          "--tls-ciphers: the listed cipher is used")
    ok(c.echo(b"cipher", tmo(5)) == b"cipher", "--tls-ciphers: it echoes")
    c.close()
    st = d.wait_stat("tls_closed", 1, tmo(5))
    is_eq((st["tls_closed"], st["tls_handshakes"]), (1, 1),
          "--tls-ciphers: one refused, one served")
    is_eq(d.stop(), 0, "echod exits 0 after the cipher test")


def test_reload(a, b, tmp):
    """
    SIGHUP: new connections get the new certificate, an open one keeps
    echoing with the old; a broken or mismatched file keeps what is in
    use and the log says why.  With two threads: the swap crosses them.
    """
    cert, key = os.path.join(tmp, "live.crt"), os.path.join(tmp, "live.key")
    shutil.copy(a[0], cert)
    shutil.copy(a[1], key)
    d = Daemon(*tls_args(cert, key, "--threads", "2"))
    old = TlsClient(d.tls_port, a[0])
    old.handshake(tmo(5))
    is_eq(old.fingerprint(), fingerprint_of(a[0]),
          "before SIGHUP: the first certificate")
    shutil.copy(b[0], cert)
    shutil.copy(b[1], key)
    at = len(d.log)
    d.proc.send_signal(signal.SIGHUP)
    ok(d.wait_log("TLS: reloaded", at, tmo(5)) >= 0, "SIGHUP: reloaded, "
       "says the log")
    fresh = []
    for i in range(4):
        c = TlsClient(d.tls_port, b[0])
        c.handshake(tmo(5))
        fresh.append(c.fingerprint())
        ok(c.echo(b"new %d" % i, tmo(5)) == b"new %d" % i,
           "after SIGHUP: connection %d echoes" % i)
        c.close()
    ok(fresh == [fingerprint_of(b[0])] * 4,
       "after SIGHUP: new connections get the new certificate")
    data = os.urandom(200000)
    ok(old.echo(data, tmo(10)) == data,
       "after SIGHUP: the connection opened before still echoes")

    for what, content, why in (
            ("a broken certificate", ("junk\n", None),
             "no usable certificate"),
            ("a key of another certificate", (None, a[1]),
             "does not match the certificate"),
            ("a missing key", (None, ""), "cannot read --tls-key")):
        text, keyfrom = content
        if text is not None:
            with open(cert, "w") as f:
                f.write(text)
        if keyfrom == "":
            os.unlink(key)
        elif keyfrom is not None:
            shutil.copy(b[0], cert)
            shutil.copy(keyfrom, key)
        at = len(d.log)
        d.proc.send_signal(signal.SIGHUP)
        ok(d.wait_log("TLS reload failed, keeping the certificate in use: ",
                      at, tmo(5)) >= 0 and d.wait_log(why, at, tmo(5)) >= 0,
           "SIGHUP with %s: the old one kept, the log says '%s'" %
           (what, why))
        c = TlsClient(d.tls_port, b[0])
        c.handshake(tmo(5))
        is_eq(c.fingerprint(), fingerprint_of(b[0]),
              "after %s: new connections still get the certificate in use"
              % what)
        ok(c.echo(b"still", tmo(5)) == b"still",
           "after %s: they echo" % what)
        c.close()
        shutil.copy(b[0], cert)
        shutil.copy(b[1], key)
    ok(old.echo(b"last", tmo(5)) == b"last",
       "the first connection still echoes after every SIGHUP")
    old.close()
    is_eq(d.stop(), 0, "echod exits 0 after the reloads")


def test_stall_and_drain(a):
    """
    --stall-timeout closes a TLS client that reads nothing; SIGTERM
    drains a quiet TLS connection (closed with close_notify) and exits 0.
    """
    d = Daemon(*tls_args(*a, "--stall-timeout", "1", "--high-water",
                         "16k"))
    c = TlsClient(d.tls_port, a[0])
    c.handshake(tmo(5))
    c.fill_unread(tmo(0.5))
    st = d.wait_stat("stall_closed", 1, tmo(10))
    is_eq(st["stall_closed"], 1, "a TLS client that reads nothing: "
          "stall_closed")
    c.close()
    quiet = TlsClient(d.tls_port, a[0])
    quiet.handshake(tmo(5))
    ok(quiet.echo(b"ping", tmo(5)) == b"ping", "a quiet client echoes")
    d.wait_stat("tls_handshakes", 2, tmo(5))
    d.proc.send_signal(signal.SIGTERM)
    ok(quiet.wait_closed(tmo(10)) and quiet.closed,
       "SIGTERM: the quiet TLS connection ends with close_notify")
    quiet.close()
    is_eq(d.stop(None), 0, "SIGTERM: echod exits 0")
    ok(re.search(r"stats: .*shutdown_closed=1", d.log) is not None,
       "SIGTERM: counted as shutdown_closed")


def test_start_errors(a, b, tmp):
    """
    Files that do not load stop echod at start with exit 1 and a message
    naming the file and the problem; bad option combinations exit 2.
    """
    junk = os.path.join(tmp, "junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    missing = os.path.join(tmp, "missing.pem")
    cases = [
        (tls_args(a[0], missing), 1,
         "cannot read --tls-key %s: No such file or directory" % missing),
        (tls_args(missing, a[1]), 1, "cannot read --tls-cert %s" % missing),
        (tls_args(a[0], b[1]), 1, "--tls-key %s does not match the "
         "certificate in --tls-cert %s" % (b[1], a[0])),
        (tls_args(junk, a[1]), 1, "--tls-cert %s: no usable certificate"
         % junk),
        (tls_args(a[0], junk), 1, "--tls-key %s: no usable private key"
         % junk),
        (tls_args(a[0], a[1], "--tls-ciphers", "NO-SUCH-CIPHER"), 1,
         "--tls-ciphers 'NO-SUCH-CIPHER': "),
        (["-l", "tls:127.0.0.1:0"], 2, "needs --tls-cert and --tls-key"),
        (["-l", "127.0.0.1:0", "--tls-cert", a[0], "--tls-key", a[1]], 2,
         "no --listen starts with tls:"),
        (["-l", "tls:127.0.0.1:0", "--tls-key", a[1]], 2,
         "--tls-cert is missing"),
    ]
    for args, status, msg in cases:
        got, out = run_echod(*args)
        is_eq(got, status, "%s: exit %d" % (" ".join(args[-2:]), status))
        if not ok(msg in out, "%s: says '%s'" % (" ".join(args[-2:]), msg)):
            diag(out)
        ok("listening" not in out, "%s: nothing bound" %
           " ".join(args[-2:]))
    # A key readable by root alone, for an echod that is not root.
    if os.geteuid() == 0 and not WRAPPER:
        private = os.path.join(tmp, "private.key")
        shutil.copy(a[1], private)
        os.chmod(private, 0o600)
        os.chmod(tmp, 0o755)
        try:
            p = subprocess.run([ECHOD] + tls_args(a[0], private),
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=tmo(20),
                               preexec_fn=lambda: (os.setgroups([]),
                                                   os.setgid(65534),
                                                   os.setuid(65534)))
        except PermissionError:
            p = None
        if p is None:
            # A build in a directory only root may enter, as in
            # packaging: nobody cannot even start echod.
            skip("nobody cannot run %s" % ECHOD)
        else:
            out = p.stdout.decode("utf-8", "replace")
            is_eq(p.returncode, 1, "an unreadable key: exit 1")
            ok("cannot read --tls-key %s: Permission denied" % private
               in out, "an unreadable key: says 'Permission denied'")
    else:
        diag("not root (or under a wrapper): the unreadable key is not "
             "tested")


def main():
    global n
    status, out = run_echod("--version")
    if "TLS: built in" not in out:
        got, msg = run_echod("-l", "tls:127.0.0.1:0")
        is_eq(got, 2, "a build without TLS: tls: refused with exit 2")
        ok("built without TLS" in msg, "a build without TLS: says so")
        print("1..%d" % n)
        return 0
    tmp = tempfile.mkdtemp(prefix="t_tls.")
    try:
        a = make_cert(tmp, "a")
        b = make_cert(tmp, "b")
        for name, test in (
                ("start errors", lambda: test_start_errors(a, b, tmp)),
                ("16 MiB", lambda: test_big_echo(a)),
                ("backpressure", lambda: test_backpressure(a)),
                ("ends", lambda: test_ends(a)),
                ("failed handshakes", lambda: test_handshake_failures(a, b)),
                ("s_client", lambda: test_s_client_and_plain(a)),
                ("ciphers", lambda: test_ciphers(a)),
                ("reload", lambda: test_reload(a, b, tmp)),
                ("stall and drain", lambda: test_stall_and_drain(a))):
            try:
                test()
            except Exception:
                ok(False, "%s: ran to its end" % name)
                diag(traceback.format_exc())
            finally:
                Daemon.stop_all()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
