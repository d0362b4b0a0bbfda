/* SPDX-License-Identifier: ISC */
/*
 * tls.c - the TLS context of the "tls:" listeners: built from --tls-cert,
 * --tls-key and --tls-ciphers at start-up (before privileges are
 * dropped), rebuilt on SIGHUP, and handed to new connections as a
 * bufferevent_openssl that accepts.
 *
 * Every worker makes connections from the current context while main may
 * swap it: a mutex guards the pointer for the moment SSL_new() takes its
 * own reference, so a connection keeps the context it started with and
 * the old one is freed with its last connection.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "echod.h"

static pthread_mutex_t		 tls_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX			*tls_ctx;	/* for new connections */
static const struct settings	*tls_settings;

static SSL_CTX	*tls_ctx_new(const struct settings *, char *, size_t);
static int	 tls_readable(const char *, const char *, char *, size_t);
static void	 tls_openssl_error(char *, size_t);

/* OpenSSL's reason for the last failure, in why, and its queue emptied. */
static void
tls_openssl_error(char *why, size_t len)
{
	unsigned long	 e = ERR_get_error();

	if (e == 0)
		snprintf(why, len, "no reason given");
	else
		ERR_error_string_n(e, why, len);
	ERR_clear_error();
}

/*
 * Whether path can be opened for reading, with the system's reason for
 * the option named opt if not: OpenSSL's own message for a missing file
 * is a chain of library errors.
 */
static int
tls_readable(const char *opt, const char *path, char *why, size_t len)
{
	FILE	*fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(why, len, "cannot read --%s %s: %s", opt, path,
		    strerror(errno));
		return (-1);
	}
	fclose(fp);
	return (0);
}

/*
 * A server context from the settings: TLS 1.2 at least, the certificate
 * chain, a key that matches it, the ciphers asked for.  Returns NULL with
 * the reason in why.
 */
static SSL_CTX *
tls_ctx_new(const struct settings *s, char *why, size_t len)
{
	SSL_CTX	*ctx;
	char	 err[256];

	if (tls_readable("tls-cert", s->tls_cert, why, len) == -1 ||
	    tls_readable("tls-key", s->tls_key, why, len) == -1)
		return (NULL);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_openssl_error(err, sizeof(err));
		snprintf(why, len, "cannot make a TLS context: %s", err);
		return (NULL);
	}
	/*
	 * Only TLS 1.2 and 1.3.  No renegotiation: a client could make us
	 * redo the expensive half of a handshake at will.  Released
	 * buffers: an idle TLS connection would otherwise keep two
	 * 17 KiB record buffers.
	 */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/*
	 * A peer's FIN without close_notify ends its side as close_notify
	 * would: an echo client that is done sending owes us nothing more,
	 * and what it sent is still echoed.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (s->tls_ciphers != NULL &&
	    SSL_CTX_set_cipher_list(ctx, s->tls_ciphers) != 1) {
		tls_openssl_error(err, sizeof(err));
		snprintf(why, len, "--tls-ciphers '%s': %s", s->tls_ciphers,
		    err);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, s->tls_cert) != 1) {
		tls_openssl_error(err, sizeof(err));
		snprintf(why, len, "--tls-cert %s: no usable certificate: %s",
		    s->tls_cert, err);
		goto fail;
	}
	/* Loading the key already compares it with the certificate. */
	if (SSL_CTX_use_PrivateKey_file(ctx, s->tls_key,
	    SSL_FILETYPE_PEM) != 1 && ERR_GET_REASON(ERR_peek_last_error()) !=
	    X509_R_KEY_VALUES_MISMATCH) {
		tls_openssl_error(err, sizeof(err));
		snprintf(why, len, "--tls-key %s: no usable private key: %s",
		    s->tls_key, err);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(why, len, "--tls-key %s does not match the "
		    "certificate in --tls-cert %s", s->tls_key, s->tls_cert);
		goto fail;
	}
	return (ctx);
fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

/*
 * At start-up, while still root if started so: key files are often
 * readable by root alone.  Nothing to do without --tls-cert.  Returns 0,
 * or -1 with the reason logged.
 */
int
tls_init(const struct settings *s)
{
	char	 why[512];

	if (s->tls_cert == NULL)
		return (0);
	if ((tls_ctx = tls_ctx_new(s, why, sizeof(why))) == NULL) {
		log_warnx("%s", why);
		return (-1);
	}
	tls_settings = s;
	return (0);
}

/*
 * SIGHUP: read the certificate and key again, for connections accepted
 * from now on.  A file that does not load leaves the context in use as it
 * was.  Returns 0, or -1 with the reason logged.
 */
int
tls_reload(void)
{
	SSL_CTX	*ctx, *old;
	char	 why[512];

	if (tls_settings == NULL)
		return (0);
	if ((ctx = tls_ctx_new(tls_settings, why, sizeof(why))) == NULL) {
		log_warnx("TLS reload failed, keeping the certificate in use: "
		    "%s", why);
		return (-1);
	}
	pthread_mutex_lock(&tls_lock);
	old = tls_ctx;
	tls_ctx = ctx;
	pthread_mutex_unlock(&tls_lock);
	/* Open connections hold their own references to it. */
	SSL_CTX_free(old);
	log_notice("TLS: reloaded %s and %s", tls_settings->tls_cert,
	    tls_settings->tls_key);
	return (0);
}

/* At exit: the context is freed once its last connection is. */
void
tls_free(void)
{
	SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
	tls_settings = NULL;
}

/*
 * A bufferevent on an accepted socket that runs the server side of the
 * handshake, then reads and writes plaintext; freeing it closes the
 * socket.  NULL for want of memory, the socket then closed: libevent
 * frees the SSL and closes the socket of a bufferevent it fails to set up
 * (all but a failed first allocation, which leaks them rather than risk
 * closing a descriptor twice).
 */
struct bufferevent *
tls_bufferevent_new(struct event_base *base, int fd)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	pthread_mutex_lock(&tls_lock);
	ssl = SSL_new(tls_ctx);
	pthread_mutex_unlock(&tls_lock);
	if (ssl == NULL) {
		ERR_clear_error();
		close(fd);
		return (NULL);
	}
	/*
	 * Deferred callbacks: libevent reports the peer's EOF from inside
	 * the read that also decrypted the last bytes, before they are in
	 * the input.  Deferred, the read callback runs first and queues
	 * their echo, then the event callback sees the EOF.
	 */
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		return (NULL);
	/*
	 * OpenSSL 1.1 reports a FIN without close_notify as an error
	 * unless libevent is told to take it as EOF; 3.0 has the context's
	 * SSL_OP_IGNORE_UNEXPECTED_EOF.
	 */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (bev);
}

/*
 * Before a clean close: tell the peer with close_notify that the echo is
 * complete.  Best effort on a non-blocking socket; a peer already gone
 * makes it fail, which changes nothing.
 */
void
tls_close_notify(struct bufferevent *bev)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL && SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

/*
 * Why a TLS connection failed, for its log line: the first error OpenSSL
 * queued on it, else the socket's errnum, else the peer left.  libevent
 * hands its queue back last first, and also queues bare SSL_get_error()
 * codes, which name no library: those are skipped.
 */
const char *
tls_close_reason(struct bufferevent *bev, int errnum, char *buf, size_t len)
{
	unsigned long	 e, first = 0;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (ERR_GET_LIB(e) != 0)
			first = e;
	if (first != 0) {
		ERR_error_string_n(first, buf, len);
		return (buf);
	}
	if (errnum != 0)
		return (strerror(errnum));
	return ("the peer closed the connection");
}
