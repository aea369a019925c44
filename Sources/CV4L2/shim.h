// What Swift cannot import from <linux/videodev2.h> and <libv4l2.h>: the VIDIOC_* request
// macros (built with _IOWR, which Swift does not evaluate), v4l2_fourcc, and libv4l2's
// variadic v4l2_open / v4l2_ioctl (Swift refuses variadic C functions).
#ifndef EFFNETD_CV4L2_SHIM_H
#define EFFNETD_CV4L2_SHIM_H
#include <fcntl.h>
#include <libv4l2.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static inline int effv4l2_open(const char *path, int flags) { return v4l2_open(path, flags); }
static inline int effv4l2_ioctl(int fd, unsigned long request, void *arg) { return v4l2_ioctl(fd, request, arg); }
// Plain ioctl(2) on a descriptor opened without libv4l2.
static inline int effv4l2_sys_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
static inline int effv4l2_close(int fd) { return v4l2_close(fd); }
static inline void *effv4l2_mmap(void *start, size_t length, int prot, int flags, int fd, int64_t offset) {
  return v4l2_mmap(start, length, prot, flags, fd, offset);
}
static inline int effv4l2_munmap(void *start, size_t length) { return v4l2_munmap(start, length); }

static const unsigned long EFFV4L2_VIDIOC_QUERYCAP = VIDIOC_QUERYCAP;
static const unsigned long EFFV4L2_VIDIOC_ENUM_FMT = VIDIOC_ENUM_FMT;
static const unsigned long EFFV4L2_VIDIOC_ENUM_FRAMESIZES = VIDIOC_ENUM_FRAMESIZES;
static const unsigned long EFFV4L2_VIDIOC_ENUM_FRAMEINTERVALS = VIDIOC_ENUM_FRAMEINTERVALS;
static const unsigned long EFFV4L2_VIDIOC_G_FMT = VIDIOC_G_FMT;
static const unsigned long EFFV4L2_VIDIOC_S_FMT = VIDIOC_S_FMT;
static const unsigned long EFFV4L2_VIDIOC_G_PARM = VIDIOC_G_PARM;
static const unsigned long EFFV4L2_VIDIOC_S_PARM = VIDIOC_S_PARM;
static const unsigned long EFFV4L2_VIDIOC_REQBUFS = VIDIOC_REQBUFS;
static const unsigned long EFFV4L2_VIDIOC_QUERYBUF = VIDIOC_QUERYBUF;
static const unsigned long EFFV4L2_VIDIOC_QBUF = VIDIOC_QBUF;
static const unsigned long EFFV4L2_VIDIOC_DQBUF = VIDIOC_DQBUF;
static const unsigned long EFFV4L2_VIDIOC_STREAMON = VIDIOC_STREAMON;
static const unsigned long EFFV4L2_VIDIOC_STREAMOFF = VIDIOC_STREAMOFF;
static const unsigned long EFFV4L2_VIDIOC_S_CTRL = VIDIOC_S_CTRL;
static const unsigned long EFFV4L2_VIDIOC_G_CTRL = VIDIOC_G_CTRL;
static const unsigned long EFFV4L2_VIDIOC_QUERYCTRL = VIDIOC_QUERYCTRL;
static const unsigned long EFFV4L2_VIDIOC_QUERY_EXT_CTRL = VIDIOC_QUERY_EXT_CTRL;

static const unsigned int EFFV4L2_FLAG_NEXT_CTRL = V4L2_CTRL_FLAG_NEXT_CTRL;
static const unsigned int EFFV4L2_FLAG_NEXT_COMPOUND = V4L2_CTRL_FLAG_NEXT_COMPOUND;
static const unsigned int EFFV4L2_BUF_FLAG_ERROR = V4L2_BUF_FLAG_ERROR;
static const unsigned int EFFV4L2_FMT_FLAG_EMULATED = V4L2_FMT_FLAG_EMULATED;
static const unsigned int EFFV4L2_FMT_FLAG_COMPRESSED = V4L2_FMT_FLAG_COMPRESSED;
static const unsigned int EFFV4L2_CAP_VIDEO_CAPTURE = V4L2_CAP_VIDEO_CAPTURE;
static const unsigned int EFFV4L2_CAP_STREAMING = V4L2_CAP_STREAMING;
static const unsigned int EFFV4L2_CAP_DEVICE_CAPS = V4L2_CAP_DEVICE_CAPS;

#endif
