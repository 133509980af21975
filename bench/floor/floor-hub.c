/*
 * The floor: the least a push hub can do on this machine. One thread, one epoll set, no framework. It speaks just
 * enough HTTP/1.1 for the benchmark's load client and publisher:
 *   GET  /api/cache-events        200 text/event-stream (not chunked), then "event: connected"
 *   POST /api/cache/invalidate    {"tags":[...]} -> "id: n / event: invalidate / data: [...]" written to every stream, 202
 *   GET  /health/ready            200 (the benchmark's readiness probe)
 *   anything else                 404
 * Started by the benchmark as: floor-hub --urls http://127.0.0.1:PORT [ignored options...]
 * A stream whose socket is full keeps the rest in its own buffer (written on EPOLLOUT); past 4 MB it is closed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 65536
#define MAX_REQUEST (1 << 20)
#define MAX_PENDING (4 << 20)

typedef struct {
    char *in; size_t in_len, in_cap;     /* request bytes not yet handled */
    char *out; size_t out_len, out_cap;  /* bytes the socket did not take yet */
    int stream;                          /* index in streams[] + 1, or 0 when not an SSE stream */
} conn;

static conn *conns[MAX_FDS];
static int streams[MAX_FDS], stream_count, ep;
static unsigned long long next_id;

static void drop(int fd) {
    conn *c = conns[fd];
    if (c->stream) { /* swap the last stream into this slot */
        int last = streams[--stream_count];
        streams[c->stream - 1] = last;
        conns[last]->stream = c->stream;
    }
    free(c->in); free(c->out); free(c); conns[fd] = NULL;
    close(fd);
}

static int append(char **buf, size_t *len, size_t *cap, const char *data, size_t n, size_t limit) {
    if (*len + n > limit) return -1;
    if (*len + n > *cap) {
        size_t cap2 = *cap ? *cap : 4096;
        while (cap2 < *len + n) cap2 *= 2;
        char *grown = realloc(*buf, cap2);
        if (!grown) return -1;
        *buf = grown; *cap = cap2;
    }
    memcpy(*buf + *len, data, n); *len += n;
    return 0;
}

/* Writes now what the socket takes; keeps the rest. Returns -1 when the connection must go. */
static int send_bytes(int fd, const char *data, size_t n) {
    conn *c = conns[fd];
    if (c->out_len == 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno != EAGAIN) return -1;
        if (w > 0) { data += w; n -= (size_t)w; }
        if (n == 0) return 0;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.fd = fd };
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    }
    return append(&c->out, &c->out_len, &c->out_cap, data, n, MAX_PENDING);
}

static int flush_pending(int fd) {
    conn *c = conns[fd];
    ssize_t w = write(fd, c->out, c->out_len);
    if (w < 0) return errno == EAGAIN ? 0 : -1;
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
    if (c->out_len == 0) {
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    }
    return 0;
}

static int reply(int fd, const char *status, const char *body) {
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n\r\n%s", status, strlen(body), body);
    return send_bytes(fd, head, (size_t)n);
}

/* The tags' JSON array, copied verbatim into one data: line and written to every stream. */
static void publish(const char *body, size_t len) {
    const char *tags = memmem(body, len, "\"tags\"", 6);
    const char *open = tags ? memchr(tags, '[', len - (size_t)(tags - body)) : NULL;
    const char *close_ = open ? memchr(open, ']', len - (size_t)(open - body)) : NULL;
    if (!close_) return;
    size_t n = (size_t)(close_ - open) + 1;
    char *frame = malloc(n + 64);
    int head = sprintf(frame, "id: %llu\nevent: invalidate\ndata: ", ++next_id);
    memcpy(frame + head, open, n);
    for (size_t i = 0; i < n; i++) if (frame[head + i] == '\n' || frame[head + i] == '\r') frame[head + i] = ' ';
    memcpy(frame + head + n, "\n\n", 2);
    for (int i = stream_count - 1; i >= 0; i--) /* backwards: a dropped stream swaps in one already written */
        if (send_bytes(streams[i], frame, (size_t)head + n + 2) < 0) drop(streams[i]);
    free(frame);
}

/* Handles every complete request in the connection's buffer. Returns -1 when the connection must go. */
static int handle(int fd) {
    conn *c = conns[fd];
    for (;;) {
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end) return c->in_len < MAX_REQUEST ? 0 : -1;
        size_t head_len = (size_t)(end - c->in) + 4, body_len = 0;
        char *length = memmem(c->in, head_len, "\r\nContent-Length:", 17);
        if (!length) length = memmem(c->in, head_len, "\r\ncontent-length:", 17);
        if (length) body_len = strtoul(length + 17, NULL, 10);
        if (head_len + body_len > MAX_REQUEST) return -1;
        if (c->in_len < head_len + body_len) return 0;
        if (!strncmp(c->in, "GET /api/cache-events ", 22) || !strncmp(c->in, "GET /api/cache-events?", 22)) {
            static const char sse[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
                                      "event: connected\ndata: {}\n\n";
            streams[stream_count++] = fd;
            c->stream = stream_count;
            c->in_len = 0;
            return send_bytes(fd, sse, sizeof sse - 1);
        }
        int sent;
        if (!strncmp(c->in, "POST /api/cache/invalidate ", 27)) {
            publish(c->in + head_len, body_len);
            sent = reply(fd, "202 Accepted", "");
        } else if (!strncmp(c->in, "GET /health/ready ", 18)) {
            sent = reply(fd, "200 OK", "floor");
        } else {
            sent = reply(fd, "404 Not Found", "");
        }
        if (sent < 0) return -1;
        memmove(c->in, c->in + head_len + body_len, c->in_len - head_len - body_len);
        c->in_len -= head_len + body_len;
    }
}

int main(int argc, char **argv) {
    int port = 0;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--urls")) { char *colon = strrchr(argv[i + 1], ':'); if (colon) port = atoi(colon + 1); }
    if (port <= 0) { fprintf(stderr, "usage: floor-hub --urls http://127.0.0.1:PORT\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 4096) < 0) { perror("listen"); return 1; }
    ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = listener }, events[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    for (;;) {
        int ready = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int client;
                while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (client >= MAX_FDS) { close(client); continue; }
                    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[client] = calloc(1, sizeof(conn));
                    struct epoll_event add = { .events = EPOLLIN, .data.fd = client };
                    epoll_ctl(ep, EPOLL_CTL_ADD, client, &add);
                }
                continue;
            }
            if (!conns[fd]) continue; /* dropped earlier in this batch */
            if ((events[i].events & EPOLLOUT) && flush_pending(fd) < 0) { drop(fd); continue; }
            if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            char buffer[16384];
            ssize_t got = read(fd, buffer, sizeof buffer);
            if (got == 0 || (got < 0 && errno != EAGAIN)) { drop(fd); continue; }
            if (got < 0) continue;
            conn *c = conns[fd];
            if (c->stream) continue; /* a stream's client has nothing more to say */
            if (append(&c->in, &c->in_len, &c->in_cap, buffer, (size_t)got, MAX_REQUEST) < 0 || handle(fd) < 0) drop(fd);
        }
    }
}
