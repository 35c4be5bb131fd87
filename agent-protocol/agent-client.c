/*
 * agent-client.c: blocking agent client.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-client.h"
#include "agent-msg.h"
#include "fdio.h"
#include "kbuf.h"
#include "kmes-err.h"

struct agent_client {
	int fd;
	struct kbuf *out;
};

int
agent_client_connect(const char *path, struct agent_client **acp)
{
	struct sockaddr_un sun;
	struct agent_client *ac = NULL;
	int r, fd = -1;

	*acp = NULL;
	if (path == NULL && (path = getenv("SSH_AUTH_SOCK")) == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return KMES_ERR_INVALID_ARGUMENT;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return KMES_ERR_SYSTEM;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	if ((ac = calloc(1, sizeof(*ac))) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	ac->fd = -1;
	if ((ac->out = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	ac->fd = fd;
	fd = -1;
	*acp = ac;
	ac = NULL;
	r = 0;
out:
	if (fd != -1)
		close(fd);
	agent_client_free(ac);
	return r;
}

void
agent_client_free(struct agent_client *ac)
{
	if (ac == NULL)
		return;
	if (ac->fd >= 0)
		close(ac->fd);
	kbuf_free(ac->out);
	free(ac);
}

int
agent_client_fd(const struct agent_client *ac)
{
	return ac->fd;
}

int
agent_client_request(struct agent_client *ac, const struct kbuf *req,
    struct kbuf *reply)
{
	int r;

	kbuf_reset(ac->out);
	if ((r = agent_msg_put_framed(ac->out, req)) != 0 ||
	    (r = kmes_write_all(ac->fd, kbuf_ptr(ac->out),
		 kbuf_len(ac->out))) != 0)
		return r;
	r = agent_msg_read_framed(ac->fd, AGENT_MSG_MAX, reply);
	if (r == KMES_ERR_MESSAGE_TOO_LARGE || r == KMES_ERR_INVALID_FORMAT)
		r = KMES_ERR_AGENT_PROTOCOL;
	return r;
}

int
agent_client_simple(struct agent_client *ac, const struct kbuf *req)
{
	struct kbuf *reply;
	uint8_t code;
	int r;

	if ((reply = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = agent_client_request(ac, req, reply)) != 0 ||
	    (r = kbuf_get_u8(reply, &code)) != 0)
		goto out;
	if (code == SSH_AGENT_SUCCESS && kbuf_len(reply) == 0)
		r = 0;
	else if (code == SSH_AGENT_FAILURE ||
	    code == SSH_AGENT_EXTENSION_FAILURE)
		r = KMES_ERR_AGENT_FAILURE;
	else
		r = KMES_ERR_AGENT_PROTOCOL;
out:
	kbuf_free(reply);
	return r;
}

void
agent_identities_free(struct agent_identity *ids, size_t nids)
{
	size_t i;

	if (ids == NULL)
		return;
	for (i = 0; i < nids; i++) {
		free(ids[i].blob);
		free(ids[i].comment);
	}
	free(ids);
}

int
agent_client_list(struct agent_client *ac, struct agent_identity **idsp,
    size_t *nidsp)
{
	struct kbuf *req = NULL, *reply = NULL;
	struct agent_identity *ids = NULL;
	uint32_t n, i;
	uint8_t code;
	size_t nalloc = 0;
	int r;

	*idsp = NULL;
	*nidsp = 0;
	if ((req = kbuf_new()) == NULL || (reply = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_put_u8(req, SSH_AGENTC_REQUEST_IDENTITIES)) != 0 ||
	    (r = agent_client_request(ac, req, reply)) != 0 ||
	    (r = kbuf_get_u8(reply, &code)) != 0)
		goto out;
	if (code != SSH_AGENT_IDENTITIES_ANSWER) {
		r = code == SSH_AGENT_FAILURE ? KMES_ERR_AGENT_FAILURE :
						KMES_ERR_AGENT_PROTOCOL;
		goto out;
	}
	if ((r = kbuf_get_u32(reply, &n)) != 0)
		goto out;
	/* Each entry takes at least 8 bytes: bound n before allocating. */
	if (n > kbuf_len(reply) / 8) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if (n != 0 && (ids = calloc(n, sizeof(*ids))) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	nalloc = n;
	for (i = 0; i < n; i++) {
		if ((r = kbuf_get_string(reply, &ids[i].blob,
			 &ids[i].blob_len)) != 0 ||
		    (r = kbuf_get_cstring(reply, &ids[i].comment, NULL)) != 0)
			goto out;
	}
	if (kbuf_len(reply) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	*idsp = ids;
	*nidsp = n;
	ids = NULL;
	r = 0;
out:
	agent_identities_free(ids, nalloc);
	kbuf_free(req);
	kbuf_free(reply);
	return r;
}

int
agent_client_sign(struct agent_client *ac, const uint8_t *blob, size_t blob_len,
    const uint8_t *data, size_t dlen, uint32_t flags, uint8_t **sigp,
    size_t *siglenp)
{
	struct kbuf *req = NULL, *reply = NULL;
	uint8_t code;
	int r;

	*sigp = NULL;
	*siglenp = 0;
	if ((req = kbuf_new()) == NULL || (reply = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_put_u8(req, SSH_AGENTC_SIGN_REQUEST)) != 0 ||
	    (r = kbuf_put_string(req, blob, blob_len)) != 0 ||
	    (r = kbuf_put_string(req, data, dlen)) != 0 ||
	    (r = kbuf_put_u32(req, flags)) != 0 ||
	    (r = agent_client_request(ac, req, reply)) != 0 ||
	    (r = kbuf_get_u8(reply, &code)) != 0)
		goto out;
	if (code != SSH_AGENT_SIGN_RESPONSE) {
		r = code == SSH_AGENT_FAILURE ? KMES_ERR_AGENT_FAILURE :
						KMES_ERR_AGENT_PROTOCOL;
		goto out;
	}
	if ((r = kbuf_get_string(reply, sigp, siglenp)) != 0)
		goto out;
	if (kbuf_len(reply) != 0) {
		free(*sigp);
		*sigp = NULL;
		*siglenp = 0;
		r = KMES_ERR_INVALID_FORMAT;
	}
out:
	kbuf_free(req);
	kbuf_free(reply);
	return r;
}
