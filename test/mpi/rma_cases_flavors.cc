// rma_cases_flavors.cc - every window flavor under every synchronization
// mode (group 25): MPI_Win_create, MPI_Win_allocate, MPI_Win_allocate_shared
// and MPI_Win_create_dynamic windows, each through fence, post/start/
// complete/wait, lock/unlock and lock_all/unlock_all.  The same ring in
// each: every rank puts a pattern into its right neighbour, adds 1 there
// with MPI_Accumulate, and gets the pattern back in a later epoch; then
// each rank checks its own window memory.  These cases do not follow
// --flavor: each names its flavor.  What they exist for: osc virt's paths
// (backend, fallback, a mix of both when some rank reaches no backend) all
// agree with MPI for each flavor, not only for the one --flavor picks.
//
// Shared windows are made on MPI_COMM_TYPE_SHARED sub-communicators (a
// single rank per node is a valid, if small, shared window); where the osc
// component refuses one on every rank the case is SKIPped with the error.
#include "rma_harness.h"

#include <algorithm>

using namespace rma;

namespace {

constexpr int kHalf = 4;             // ints put (and got back) per rank
constexpr int kInts = 2 * kHalf;     // window: kHalf put slots, kHalf accumulate slots
constexpr int kUnset = -1, kAccStart = 100;

enum class Kind { Create, Allocate, Shared, Dynamic };
enum class Sync { Fence, Pscw, Lock, LockAll };

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::Create: return "MPI_Win_create";
        case Kind::Allocate: return "MPI_Win_allocate";
        case Kind::Shared: return "MPI_Win_allocate_shared";
        default: return "MPI_Win_create_dynamic";
    }
}

// One window of kInts ints per rank, of the flavor asked for, over `comm`
// (ctx.comm, or the node sub-communicator for shared windows).  disp()
// turns (rank, element) into the target displacement: the element index,
// or an absolute address for dynamic windows.
struct FlavorWindow {
    explicit FlavorWindow(Ctx& c) : w(c) {}
    ~FlavorWindow() {
        w.free();
        if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
    }
    MPI_Aint disp(int r, int i) const {
        return dynamic ? MPI_Aint_add(addr[static_cast<size_t>(r)], i * static_cast<MPI_Aint>(sizeof(int))) : i;
    }
    Window w;
    MPI_Comm comm = MPI_COMM_NULL;  // the window's communicator
    MPI_Comm node = MPI_COMM_NULL;  // owned: shared windows only
    int rank = 0, size = 0;
    int* mem = nullptr;
    std::vector<int> own;           // create and dynamic: the memory
    std::vector<MPI_Aint> addr;     // dynamic: every rank's base address
    bool dynamic = false;
};

void init_memory(int* p) {
    for (int i = 0; i < kHalf; ++i) p[i] = kUnset;
    for (int i = kHalf; i < kInts; ++i) p[i] = kAccStart;
}

// Collective over ctx.comm; false (on every rank) when the window could
// not be made (then the case has failed, or is SKIPped for a refused
// shared window).
bool make_window(Ctx& ctx, Kind kind, FlavorWindow& fw) {
    fw.comm = ctx.comm;
    const MPI_Aint bytes = kInts * static_cast<MPI_Aint>(sizeof(int));
    switch (kind) {
        case Kind::Create:
            fw.own.resize(kInts);
            fw.mem = fw.own.data();
            init_memory(fw.mem);
            if (!win_create(ctx, fw.mem, bytes, sizeof(int), fw.w)) return false;
            break;
        case Kind::Allocate:
            if (!win_allocate(ctx, bytes, sizeof(int), &fw.mem, fw.w)) return false;
            break;
        case Kind::Shared: {
            if (!CK(MPI_Comm_split_type(ctx.comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &fw.node))) return ctx.all_ok();
            fw.comm = fw.node;
            const int rc = MPI_Win_allocate_shared(bytes, sizeof(int), MPI_INFO_NULL, fw.node, &fw.mem, &fw.w.win);
            int ok = rc == MPI_SUCCESS, all = 0, any = 0;
            MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, ctx.comm);
            MPI_Allreduce(&ok, &any, 1, MPI_INT, MPI_MAX, ctx.comm);
            if (!all) {
                if (any) ctx.fail("MPI_Win_allocate_shared succeeded on some ranks only");  // leaked, not freed
                else ctx.skip("MPI_Win_allocate_shared refused: " + mpi_error_string(rc));
                fw.w.win = MPI_WIN_NULL;
                return false;
            }
            CK(MPI_Win_set_errhandler(fw.w.win, MPI_ERRORS_RETURN));
            break;
        }
        case Kind::Dynamic: {
            fw.own.resize(kInts);
            fw.mem = fw.own.data();
            init_memory(fw.mem);
            fw.dynamic = true;
            if (!win_create_dynamic(ctx, fw.w)) return false;
            CK(MPI_Win_attach(fw.w.win, fw.mem, bytes));
            MPI_Aint mine = 0;
            CK(MPI_Get_address(fw.mem, &mine));
            fw.addr.resize(static_cast<size_t>(ctx.size));
            CK(MPI_Allgather(&mine, 1, MPI_AINT, fw.addr.data(), 1, MPI_AINT, ctx.comm));
            break;
        }
    }
    MPI_Comm_rank(fw.comm, &fw.rank);
    MPI_Comm_size(fw.comm, &fw.size);
    if (kind == Kind::Allocate || kind == Kind::Shared) {
        // MPI's memory: initialised by its owner, made public by a fence
        // that opens no epoch (as win_vec does)
        init_memory(fw.mem);
        CK(MPI_Win_fence(MPI_MODE_NOPRECEDE | MPI_MODE_NOSUCCEED, fw.w.win));
    }
    CK(MPI_Barrier(ctx.comm));
    return ctx.all_ok();
}

// The ring's epochs under `sync`: put + accumulate to the right neighbour,
// then (a later epoch) get back from it.
void ring(Ctx& ctx, Sync sync, FlavorWindow& fw, const std::vector<int>& src, std::vector<int>& got) {
    const int right = (fw.rank + 1) % fw.size, left = (fw.rank - 1 + fw.size) % fw.size;
    const std::vector<int> ones(kHalf, 1);
    MPI_Win win = fw.w.win;
    auto put_acc = [&] {
        CK(MPI_Put(src.data(), kHalf, MPI_INT, right, fw.disp(right, 0), kHalf, MPI_INT, win));
        CK(MPI_Accumulate(ones.data(), kHalf, MPI_INT, right, fw.disp(right, kHalf), kHalf, MPI_INT, MPI_SUM, win));
    };
    auto get = [&] { CK(MPI_Get(got.data(), kHalf, MPI_INT, right, fw.disp(right, 0), kHalf, MPI_INT, win)); };
    switch (sync) {
        case Sync::Fence:
            CK(MPI_Win_fence(0, win));
            put_acc();
            CK(MPI_Win_fence(0, win));
            get();
            CK(MPI_Win_fence(MPI_MODE_NOSUCCEED, win));
            break;
        case Sync::Pscw: {
            // neighbours on both sides; one rank when left == right
            std::vector<int> peers{left, right};
            std::sort(peers.begin(), peers.end());
            peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
            MPI_Group all = MPI_GROUP_NULL, nb = MPI_GROUP_NULL;
            CK(MPI_Win_get_group(win, &all));
            CK(MPI_Group_incl(all, static_cast<int>(peers.size()), peers.data(), &nb));
            for (int epoch = 0; epoch < 2; ++epoch) {
                CK(MPI_Win_post(nb, 0, win));
                CK(MPI_Win_start(nb, 0, win));
                if (epoch == 0) put_acc();
                else get();
                CK(MPI_Win_complete(win));
                CK(MPI_Win_wait(win));
            }
            MPI_Group_free(&nb);
            MPI_Group_free(&all);
            break;
        }
        case Sync::Lock:
            CK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, right, 0, win));
            put_acc();
            CK(MPI_Win_unlock(right, win));
            CK(MPI_Barrier(fw.comm));  // every put is in before anybody gets
            CK(MPI_Win_lock(MPI_LOCK_SHARED, right, 0, win));
            get();
            CK(MPI_Win_unlock(right, win));
            break;
        case Sync::LockAll:
            CK(MPI_Win_lock_all(0, win));
            put_acc();
            CK(MPI_Win_flush(right, win));
            CK(MPI_Barrier(fw.comm));
            get();
            CK(MPI_Win_flush_all(win));
            CK(MPI_Win_unlock_all(win));
            break;
    }
}

void flavor_sync_case(Ctx& ctx, Kind kind, Sync sync) {
    FlavorWindow fw(ctx);
    if (!make_window(ctx, kind, fw)) return;
    const int left = (fw.rank - 1 + fw.size) % fw.size;
    std::vector<int> src(kHalf), got(kHalf, kUnset);
    for (int i = 0; i < kHalf; ++i) src[static_cast<size_t>(i)] = pat(fw.rank, i, 25);
    ring(ctx, sync, fw, src, got);
    const std::string tag = kind_name(kind);
    for (int i = 0; i < kHalf; ++i) ctx.expect_eq(tag + ": get returns what this rank put", i, src[static_cast<size_t>(i)], got[static_cast<size_t>(i)]);
    auto check = [&] {
        for (int i = 0; i < kHalf; ++i) ctx.expect_eq(tag + ": put from the left neighbour", i, pat(left, i, 25), fw.mem[i]);
        for (int i = kHalf; i < kInts; ++i) ctx.expect_eq(tag + ": one accumulate(SUM, 1) from the left", i, kAccStart + 1, fw.mem[i]);
    };
    if (sync == Sync::Fence || sync == Sync::Pscw) {
        check();  // the closing fence / wait made every update visible here
    } else {
        // local_read(), with this rank's number in the window's communicator
        CK(MPI_Barrier(ctx.comm));
        CK(MPI_Win_lock(MPI_LOCK_SHARED, fw.rank, 0, fw.w.win));
        CK(MPI_Win_sync(fw.w.win));
        check();
        CK(MPI_Win_unlock(fw.rank, fw.w.win));
    }
    if (fw.dynamic) CK(MPI_Win_detach(fw.w.win, fw.mem));
}

}  // namespace

#define FLAVOR_SYNC_CASE(name, kind, sync, desc) \
    RMA_CASE(25, name, desc) { flavor_sync_case(ctx, kind, sync); }

FLAVOR_SYNC_CASE(flavor_create_fence, Kind::Create, Sync::Fence, "MPI_Win_create: put/accumulate/get ring under fence")
FLAVOR_SYNC_CASE(flavor_create_pscw, Kind::Create, Sync::Pscw, "MPI_Win_create: the ring under post/start/complete/wait")
FLAVOR_SYNC_CASE(flavor_create_lock, Kind::Create, Sync::Lock, "MPI_Win_create: the ring under lock/unlock")
FLAVOR_SYNC_CASE(flavor_create_lock_all, Kind::Create, Sync::LockAll, "MPI_Win_create: the ring under lock_all + flush")
FLAVOR_SYNC_CASE(flavor_allocate_fence, Kind::Allocate, Sync::Fence, "MPI_Win_allocate: the ring under fence")
FLAVOR_SYNC_CASE(flavor_allocate_pscw, Kind::Allocate, Sync::Pscw, "MPI_Win_allocate: the ring under post/start/complete/wait")
FLAVOR_SYNC_CASE(flavor_allocate_lock, Kind::Allocate, Sync::Lock, "MPI_Win_allocate: the ring under lock/unlock")
FLAVOR_SYNC_CASE(flavor_allocate_lock_all, Kind::Allocate, Sync::LockAll, "MPI_Win_allocate: the ring under lock_all + flush")
FLAVOR_SYNC_CASE(flavor_shared_fence, Kind::Shared, Sync::Fence, "MPI_Win_allocate_shared (per node): the ring under fence")
FLAVOR_SYNC_CASE(flavor_shared_pscw, Kind::Shared, Sync::Pscw, "MPI_Win_allocate_shared (per node): the ring under PSCW")
FLAVOR_SYNC_CASE(flavor_shared_lock, Kind::Shared, Sync::Lock, "MPI_Win_allocate_shared (per node): the ring under lock/unlock")
FLAVOR_SYNC_CASE(flavor_shared_lock_all, Kind::Shared, Sync::LockAll, "MPI_Win_allocate_shared (per node): the ring under lock_all")
FLAVOR_SYNC_CASE(flavor_dynamic_fence, Kind::Dynamic, Sync::Fence, "MPI_Win_create_dynamic: the ring under fence")
FLAVOR_SYNC_CASE(flavor_dynamic_pscw, Kind::Dynamic, Sync::Pscw, "MPI_Win_create_dynamic: the ring under post/start/complete/wait")
FLAVOR_SYNC_CASE(flavor_dynamic_lock, Kind::Dynamic, Sync::Lock, "MPI_Win_create_dynamic: the ring under lock/unlock")
FLAVOR_SYNC_CASE(flavor_dynamic_lock_all, Kind::Dynamic, Sync::LockAll, "MPI_Win_create_dynamic: the ring under lock_all + flush")
