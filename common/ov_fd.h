/*
 * ov_fd.h — RAII owners for file descriptors and mappings (both sides).
 */
#ifndef OMPI_VIRT_COMMON_OV_FD_H
#define OMPI_VIRT_COMMON_OV_FD_H

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <utility>

class ov_fd {
public:
    ov_fd() = default;
    explicit ov_fd(int fd) : fd_(fd) {}
    ov_fd(const ov_fd &) = delete;
    ov_fd &operator=(const ov_fd &) = delete;
    ov_fd(ov_fd &&o) noexcept : fd_(o.release()) {}
    ov_fd &operator=(ov_fd &&o) noexcept
    {
        if (this != &o)
            reset(o.release());
        return *this;
    }
    ~ov_fd() { reset(); }
    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1)
    {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

class ov_mapping {
public:
    ov_mapping() = default;
    ov_mapping(void *addr, size_t len) : addr_(addr), len_(len) {}
    ov_mapping(const ov_mapping &) = delete;
    ov_mapping &operator=(const ov_mapping &) = delete;
    ov_mapping(ov_mapping &&o) noexcept : addr_(std::exchange(o.addr_, nullptr)), len_(o.len_) {}
    ov_mapping &operator=(ov_mapping &&o) noexcept
    {
        if (this != &o) {
            reset();
            addr_ = std::exchange(o.addr_, nullptr);
            len_ = o.len_;
        }
        return *this;
    }
    ~ov_mapping() { reset(); }
    /* mmap(len, prot, MAP_SHARED, fd); false on failure (errno set). */
    bool map(int fd, size_t len, int prot = PROT_READ | PROT_WRITE)
    {
        void *p = ::mmap(nullptr, len, prot, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            return false;
        reset();
        addr_ = p;
        len_ = len;
        return true;
    }
    void reset()
    {
        if (addr_)
            ::munmap(addr_, len_);
        addr_ = nullptr;
    }
    char *data() const { return static_cast<char *>(addr_); }
    size_t size() const { return len_; }

private:
    void *addr_ = nullptr;
    size_t len_ = 0;
};

#endif
