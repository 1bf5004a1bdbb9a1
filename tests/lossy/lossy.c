/*
 * A lossy disk for the crash tests, loaded into the relay with LD_PRELOAD.
 *
 * Every write to the store file (a path ending in "data.mdb") that is not yet durable —
 * pwrite, pwritev, and the lseek + writev LMDB uses for runs of pages, or a plain write —
 * is
 * recorded in an undo journal ($LOSSY_JOURNAL) before it reaches the file: its offset, the
 * file's size and the bytes it replaces, and the bytes it writes. fsync or fdatasync of the
 * store file makes those writes durable and empties the journal; a write through a
 * descriptor opened with O_DSYNC or O_SYNC is durable when it returns and is not recorded.
 *
 * After the relay is killed, the test plays the power cut from the journal
 * (tests/crash.rs): it takes back every write that was not durable, lets a seeded share
 * of them reach the disk anyway (as a disk's own write-back would), and tears the last one
 * at a 512-byte sector boundary. The relay's page cache survives a SIGKILL, so the journal
 * needs no fsync of its own: the journal record is simply written before the data.
 *
 * Written in C because it must sit under LMDB's own calls to open, pwrite, pwritev, fsync
 * and fdatasync in the relay process; nothing here is used outside the tests.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define FDS_MAX 4096

/* 0: not the store file; 1: the store file, writes not durable; 2: the store file, O_DSYNC. */
static unsigned char tracked[FDS_MAX];
static int journal_fd = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);

static void resolve(void) {
    if (!real_pwrite) {
        real_pwrite = dlsym(RTLD_NEXT, "pwrite64");
        real_pwritev = dlsym(RTLD_NEXT, "pwritev64");
        real_writev = dlsym(RTLD_NEXT, "writev");
        real_write = dlsym(RTLD_NEXT, "write");
        real_fsync = dlsym(RTLD_NEXT, "fsync");
        real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
        real_close = dlsym(RTLD_NEXT, "close");
    }
}

static int is_store_file(const char *path) {
    size_t n = strlen(path);
    return n >= 8 && strcmp(path + n - 8, "data.mdb") == 0;
}

static void track(int fd, const char *path, int flags) {
    resolve();
    if (fd < 0 || fd >= FDS_MAX || !is_store_file(path)) {
        return;
    }
    tracked[fd] = (flags & (O_DSYNC | O_SYNC)) ? 2 : 1;
    pthread_mutex_lock(&lock);
    if (journal_fd < 0) {
        const char *journal = getenv("LOSSY_JOURNAL");
        if (journal) {
            journal_fd = open(journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        }
    }
    pthread_mutex_unlock(&lock);
}

static void append_all(const void *bytes, size_t len) {
    const char *p = bytes;
    while (len > 0) {
        ssize_t n = real_write(journal_fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            abort(); /* a journal that cannot be written would make the test lie */
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Records a write of `len` bytes at `offset` before it happens. */
static void record(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) len += iov[i].iov_len;
    struct stat st;
    if (fstat(fd, &st) != 0) abort();
    unsigned char *old = malloc(len ? len : 1);
    if (!old) abort();
    ssize_t old_len = pread(fd, old, len, offset);
    if (old_len < 0) old_len = 0;
    uint64_t header[5] = {0x4c4f535359ULL, (uint64_t)offset, (uint64_t)len, (uint64_t)st.st_size,
                          (uint64_t)old_len};
    append_all(header, sizeof header);
    append_all(old, (size_t)old_len);
    for (int i = 0; i < iovcnt; i++) append_all(iov[i].iov_base, iov[i].iov_len);
    free(old);
}

static int lossy(int fd) {
    return fd >= 0 && fd < FDS_MAX && tracked[fd] == 1 && journal_fd >= 0;
}

static void made_durable(int fd) {
    if (fd >= 0 && fd < FDS_MAX && tracked[fd] && journal_fd >= 0) {
        pthread_mutex_lock(&lock);
        if (ftruncate(journal_fd, 0) != 0) abort();
        pthread_mutex_unlock(&lock);
    }
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    resolve();
    if (lossy(fd)) {
        struct iovec iov = {(void *)buf, count};
        pthread_mutex_lock(&lock);
        record(fd, &iov, 1, offset);
        ssize_t n = real_pwrite(fd, buf, count, offset);
        pthread_mutex_unlock(&lock);
        return n;
    }
    return real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    return pwrite64(fd, buf, count, offset);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    resolve();
    if (lossy(fd)) {
        pthread_mutex_lock(&lock);
        record(fd, iov, iovcnt, offset);
        ssize_t n = real_pwritev(fd, iov, iovcnt, offset);
        pthread_mutex_unlock(&lock);
        return n;
    }
    return real_pwritev(fd, iov, iovcnt, offset);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    return pwritev64(fd, iov, iovcnt, offset);
}

/* LMDB writes a run of adjacent pages with lseek + writev (it is built without
 * MDB_USE_PWRITEV): the write lands at the descriptor's current position. */
ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    resolve();
    if (lossy(fd)) {
        pthread_mutex_lock(&lock);
        off_t at = lseek(fd, 0, SEEK_CUR);
        if (at < 0) abort();
        record(fd, iov, iovcnt, at);
        ssize_t n = real_writev(fd, iov, iovcnt);
        pthread_mutex_unlock(&lock);
        return n;
    }
    return real_writev(fd, iov, iovcnt);
}

ssize_t write(int fd, const void *buf, size_t count) {
    resolve();
    if (lossy(fd)) {
        struct iovec iov = {(void *)buf, count};
        pthread_mutex_lock(&lock);
        off_t at = lseek(fd, 0, SEEK_CUR);
        if (at < 0) abort();
        record(fd, &iov, 1, at);
        ssize_t n = real_write(fd, buf, count);
        pthread_mutex_unlock(&lock);
        return n;
    }
    return real_write(fd, buf, count);
}

int fsync(int fd) {
    resolve();
    int rc = real_fsync(fd);
    if (rc == 0) made_durable(fd);
    return rc;
}

int fdatasync(int fd) {
    resolve();
    int rc = real_fdatasync(fd);
    if (rc == 0) made_durable(fd);
    return rc;
}

int close(int fd) {
    resolve();
    if (fd >= 0 && fd < FDS_MAX) tracked[fd] = 0;
    return real_close(fd);
}

/* open and its variants: the mode argument is only there with O_CREAT or O_TMPFILE. */
#define OPEN_WRAPPER(name)                                                       \
    int name(const char *path, int flags, ...) {                                 \
        static int (*real)(const char *, int, ...);                              \
        if (!real) real = dlsym(RTLD_NEXT, #name);                               \
        mode_t mode = 0;                                                         \
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {             \
            va_list args;                                                        \
            va_start(args, flags);                                               \
            mode = va_arg(args, mode_t);                                         \
            va_end(args);                                                        \
        }                                                                        \
        int fd = real(path, flags, mode);                                        \
        track(fd, path, flags);                                                  \
        return fd;                                                               \
    }
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                                     \
    int name(int dir, const char *path, int flags, ...) {                        \
        static int (*real)(int, const char *, int, ...);                         \
        if (!real) real = dlsym(RTLD_NEXT, #name);                               \
        mode_t mode = 0;                                                         \
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {             \
            va_list args;                                                        \
            va_start(args, flags);                                               \
            mode = va_arg(args, mode_t);                                         \
            va_end(args);                                                        \
        }                                                                        \
        int fd = real(dir, path, flags, mode);                                   \
        track(fd, path, flags);                                                  \
        return fd;                                                               \
    }
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

int __open_2(const char *path, int flags) { return open(path, flags); }
int __open64_2(const char *path, int flags) { return open64(path, flags); }
