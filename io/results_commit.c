/* results_commit.c: how the writer makes a trial durable without ever exposing a half-written file.
 *
 * HDF5 updates a file in place and is not crash-consistent: a writer killed inside H5Fflush can leave
 * a superblock that points past the end of the file, or a group index half rewritten, so the file no
 * longer opens or a name is both free and taken. quench therefore keeps the open results file in
 * memory (HDF5's core driver, no backing store) and commits by writing the whole image to
 * FILE.quench-tmp, fsync, and rename() over FILE. At every instant FILE is the image of the last
 * commit, complete: kill -9, a node failure or a Slurm preemption at any moment loses at most the
 * trial being recorded, and readers (quench ls, h5py) always see a whole file.
 *
 * The writer's lock (an OFD lock, see results_file.c) moves with the file: the new image is locked
 * before it replaces the old one. The cost is writing the whole file per trial: for the MLP studies a
 * few MB, for transformer studies with kept checkpoints some hundreds of MB against trials of minutes. */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "results_internal.h"

hid_t qn_results_fapl_memory(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, (size_t)4 << 20, 0);
    H5Pset_file_locking(fapl, 0, 1);
    return fapl;
}

int qn_lock_fd(int fd) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, F_OFD_SETLK, &fl);
}

/* A rename is durable once the directory holding it is synced. */
static void sync_directory_of(const char *path) {
    char *dir = strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

static int write_all(int fd, const unsigned char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

int qn_results_commit(qn_results *r, int first, char *err, size_t errlen) {
    if (H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0) {
        snprintf(err, errlen, "%s: HDF5 could not flush the results", r->path);
        return -1;
    }
    ssize_t size = H5Fget_file_image(r->file, NULL, 0);
    unsigned char *image = size > 0 ? malloc((size_t)size) : NULL;
    if (!image || H5Fget_file_image(r->file, image, (size_t)size) != size) {
        snprintf(err, errlen, "%s: cannot take the image of the results (%zd bytes)", r->path, size);
        free(image);
        return -1;
    }
    size_t len = strlen(r->path) + 16;
    char *tmp = malloc(len);
    int fd = -1, rc = -1;
    if (!tmp) goto out;
    snprintf(tmp, len, "%s.quench-tmp", r->path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        goto out;
    }
    struct stat st;
    if (r->lock_fd >= 0 && fstat(r->lock_fd, &st) == 0) fchmod(fd, st.st_mode & 07777); /* keep FILE's mode */
    if (write_all(fd, image, (size_t)size) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        goto out;
    }
    if (qn_lock_fd(fd) != 0) {
        snprintf(err, errlen, "%s: cannot lock: %s", tmp, strerror(errno));
        goto out;
    }
    if (first) {
        /* A new study never replaces a file that appeared meanwhile: link() fails if FILE exists. */
        if (link(tmp, r->path) != 0) {
            snprintf(err, errlen, errno == EEXIST ? "%s exists: use --resume to finish it, or choose another -o"
                                                  : "%s: cannot create: %s",
                     r->path, strerror(errno));
            rc = errno == EEXIST ? -2 : -1;
            goto out;
        }
        unlink(tmp);
    } else if (rename(tmp, r->path) != 0) {
        snprintf(err, errlen, "%s: cannot replace it with %s: %s", r->path, tmp, strerror(errno));
        goto out;
    }
    sync_directory_of(r->path);
    if (r->lock_fd >= 0) close(r->lock_fd); /* the replaced image's lock; fd holds the new one */
    r->lock_fd = fd;
    fd = -1;
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    free(image);
    return rc;
}
