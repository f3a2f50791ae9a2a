/*
 * vmshm_rdma_backlog.h — which of btl vmshm's put/gets may be sent to the
 * backend now and which wait their turn.  MPI-free, so GoogleTest drives it.
 *
 * Why the BTL never refuses a put/get for lack of room: ob1 answers
 * OPAL_ERR_OUT_OF_RESOURCE by queueing the fragment and retrying it from
 * completion callbacks, and after pml_ob1_rdma_retries_limit (5) retries it
 * gives up on RDMA for that part of the message and asks the sender to send
 * it instead.  For a message ob1 split into several gets (larger than
 * btl_get_limit) Open MPI 4.1's sender then never completes: MPICH's
 * pt2pt/manylmt (32 x 10 MiB in flight, 96 gets) hung so.  So every put/get
 * is accepted; at most `cap` are outstanding at the backend (each owes a
 * reply the backend writes without blocking), the rest wait here in the
 * order ob1 issued them and are sent as replies free slots.
 *
 * Contract:
 *   admit(op)  true: a slot is taken, post op now (on a failed post, give
 *              the slot back with done()); false: op waits (FIFO).  An op
 *              never overtakes one that waits.  Throws std::bad_alloc only.
 *   done()     a posted op's reply came (or its post failed): frees a slot.
 *   next(&op)  the oldest waiting op, if a slot is free (the slot is then
 *              taken); false otherwise.
 *   drain(fn)  hands every waiting op to fn and forgets it (failure path).
 * Not thread-safe: the BTL's lock serialises every call.
 */
#ifndef OPAL_BTL_VMSHM_RDMA_BACKLOG_H
#define OPAL_BTL_VMSHM_RDMA_BACKLOG_H

#include <cstddef>
#include <deque>
#include <utility>

template <class Op> class vmshm_rdma_backlog {
public:
    explicit vmshm_rdma_backlog(size_t cap) : cap_(cap) {}

    bool admit(const Op &op)
    {
        if (waiting_.empty() && in_flight_ < cap_) {
            ++in_flight_;
            return true;
        }
        waiting_.push_back(op);
        return false;
    }

    void done()
    {
        if (in_flight_ > 0)
            --in_flight_;
    }

    bool next(Op *out)
    {
        if (waiting_.empty() || in_flight_ >= cap_)
            return false;
        *out = std::move(waiting_.front());
        waiting_.pop_front();
        ++in_flight_;
        return true;
    }

    template <class F> void drain(F fn)
    {
        while (!waiting_.empty()) { /* fn may admit again: it then waits behind and is drained too */
            Op op = std::move(waiting_.front());
            waiting_.pop_front();
            fn(op);
        }
    }

    size_t in_flight() const { return in_flight_; }
    size_t waiting() const { return waiting_.size(); }

private:
    size_t cap_;
    size_t in_flight_ = 0;
    std::deque<Op> waiting_;
};

#endif
