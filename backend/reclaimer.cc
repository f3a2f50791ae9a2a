/*
 * reclaimer.cc — the memory-freeing worker (reclaimer.h).
 */
#include "reclaimer.h"

#include <fcntl.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "log.h"

ov_reclaimer::~ov_reclaimer()
{
    {
        std::lock_guard<std::mutex> g(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable())
        worker_.join();
}

ov_status_t ov_reclaimer::start()
{
    notify_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!notify_.valid())
        return OV_ERR_SYS;
    try {
        worker_ = std::thread([this] { run(); });
    } catch (const std::system_error &) {
        return OV_ERR_SYS; /* work is then done inline (see the header) */
    }
    return OV_OK;
}

void ov_reclaimer::punch(ov_fd file, uint64_t lo, uint64_t hi, uint64_t token)
{
    item it;
    it.punch = true;
    it.file = std::move(file);
    it.lo = lo;
    it.hi = hi;
    it.token = token;
    enqueue(std::move(it));
}

void ov_reclaimer::dispose(std::unique_ptr<ov_region> region)
{
    item it;
    it.region = std::move(region);
    enqueue(std::move(it));
}

void ov_reclaimer::enqueue(item it)
{
    if (!worker_.joinable()) {
        work(it);
        std::lock_guard<std::mutex> g(mu_);
        report(it);
        return;
    }
    {
        std::lock_guard<std::mutex> g(mu_);
        queue_.push_back(std::move(it));
    }
    cv_.notify_one();
}

void ov_reclaimer::work(item &it)
{
    if (!it.punch) {
        it.region.reset();
        return;
    }
    if (it.hi > it.lo &&
        fallocate(it.file.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(it.lo), off_t(it.hi - it.lo)) != 0)
        /* The file system must support it (memfd and tmpfs do); without
         * it the range keeps its bytes and a new window would see them. */
        OV_LOG_ERR("punching %llu bytes out of a region: %s", (unsigned long long) (it.hi - it.lo), strerror(errno));
    it.file.reset();
}

void ov_reclaimer::report(const item &it)
{
    if (!it.punch)
        return; /* a disposal: nobody waits for it */
    done_.push_back(it.token);
    if (notify_.valid()) {
        uint64_t one = 1;
        if (write(notify_.get(), &one, sizeof(one)) < 0) {
            /* EAGAIN at a counter near 2^64: it is readable anyway */
        }
    }
}

void ov_reclaimer::run()
{
    std::unique_lock<std::mutex> g(mu_);
    for (;;) {
        cv_.wait(g, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty())
            return; /* stopping, and everything queued is done */
        item it = std::move(queue_.front());
        queue_.pop_front();
        busy_++;
        g.unlock();
        work(it);
        g.lock();
        busy_--;
        report(it);
    }
}

std::vector<uint64_t> ov_reclaimer::take_done()
{
    uint64_t v;
    if (notify_.valid() && read(notify_.get(), &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing was signalled since the last call */
    }
    std::lock_guard<std::mutex> g(mu_);
    std::vector<uint64_t> out;
    out.swap(done_);
    return out;
}

size_t ov_reclaimer::pending() const
{
    std::lock_guard<std::mutex> g(mu_);
    return queue_.size() + busy_;
}
