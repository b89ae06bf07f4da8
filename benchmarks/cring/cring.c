/* cring: this project's C floor for a split virtqueue, the yardstick `virtio bench ring` is compared with.
 *
 * The same protocol as the ring benchmark, written for speed rather than generality: one split ring of 256
 * entries laid out as the VIRTIO 1.x spec lays it out in guest memory (descriptor table, available ring with
 * used_event at its end, used ring aligned to 4096 with avail_event at its end), one-descriptor chains of 64 bytes,
 * VIRTIO_RING_F_EVENT_IDX on both sides with the spec's fences (2.7.7, 2.7.10; Linux virtio_ring.c and QEMU
 * hw/virtio/virtio.c put a full barrier between publishing an index and reading the other side's event index).
 * The driver keeps a free list, a shadow avail->idx and last_used_idx, and writes used_event on every buffer it
 * takes back; the device keeps last_avail_idx, shadow_avail_idx, used_idx and signalled_used, and checks what it
 * reads from the ring (the avail index distance, the head, the descriptor's flags, length and address) as a
 * device must. A failed check aborts: this is a floor for the valid case, not a device.
 *
 * Modes: 1, both sides on one thread (add, pop+push, get per buffer); 2, driver and device on two threads,
 * both polling; 3, two threads that sleep on eventfds between kicks and calls.
 *
 * Build and run: cc -O2 -pthread cring.c -o cring && ./cring MODE BUFFERS
 * Prints: mode=M buffers=N ns_per_buf=X kicks=K calls=C */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum { RING = 256, BUF = 64, VRING_DESC_F_NEXT = 1, VRING_DESC_F_INDIRECT = 4 };

struct vring_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vring_used_elem { uint32_t id, len; };

/* Guest memory: the ring at offset 0 and the buffers after it; the device bounds-checks addresses against it. */
#define USED_OFF(n) ((16 * (n) + 6 + 2 * (n) + 4095) & ~4095u)
#define BUFS_OFF (USED_OFF(RING) + 4096)
static _Alignas(4096) unsigned char guest[BUFS_OFF + RING * BUF];

static struct vring_desc *desc;
static uint16_t *avail_flags, *avail_ring;
static _Atomic uint16_t *avail_idx, *used_event;
static struct vring_used_elem *used_ring;
static _Atomic uint16_t *used_idx_p, *avail_event;

static inline int vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static int kick_fd = -1, call_fd = -1;
static long kicks, calls;

static void signal_fd(int fd)
{
    uint64_t one = 1;
    if (fd >= 0 && write(fd, &one, sizeof one) != sizeof one) abort();
}

static void wait_fd(int fd)
{
    uint64_t n;
    if (read(fd, &n, sizeof n) != sizeof n) abort();
}

/* ---- driver (Linux virtqueue_add_split, virtqueue_kick_prepare_split, virtqueue_get_buf_ctx_split) ---- */
static struct {
    uint16_t free_head, num_free, avail_shadow, last_used;
    uint16_t next[RING];
} drv;

static int driver_add(void)
{
    if (drv.num_free == 0) return 0;
    uint16_t head = drv.free_head;
    drv.free_head = drv.next[head];
    drv.num_free--;
    desc[head] = (struct vring_desc){ .addr = BUFS_OFF + (uint64_t)head * BUF, .len = BUF };
    avail_ring[drv.avail_shadow & (RING - 1)] = head;
    uint16_t old = drv.avail_shadow++;
    atomic_store_explicit(avail_idx, drv.avail_shadow, memory_order_release);  /* virtio_wmb, then the index */
    atomic_thread_fence(memory_order_seq_cst);                                  /* virtio_mb before avail_event */
    if (vring_need_event(atomic_load_explicit(avail_event, memory_order_relaxed), drv.avail_shadow, old)) {
        kicks++;
        signal_fd(kick_fd);
    }
    return 1;
}

static int driver_get(void)
{
    if (atomic_load_explicit(used_idx_p, memory_order_acquire) == drv.last_used) return 0;
    struct vring_used_elem e = used_ring[drv.last_used & (RING - 1)];
    drv.last_used++;
    if (e.id >= RING) abort(); /* Linux checks the id, not the length (the used-length check was reverted) */
    drv.next[e.id] = drv.free_head;
    drv.free_head = (uint16_t)e.id;
    drv.num_free++;
    atomic_store_explicit(used_event, drv.last_used, memory_order_relaxed);
    return 1;
}

/* ---- device (QEMU virtqueue_split_pop, virtqueue_push, virtio_split_should_notify) ---- */
static struct { uint16_t last_avail, shadow_avail, used_idx, signalled_used; } dev;

static int device_has_work(void)
{
    if (dev.last_avail != dev.shadow_avail) return 1;
    dev.shadow_avail = atomic_load_explicit(avail_idx, memory_order_acquire);
    if (dev.last_avail == dev.shadow_avail) {
        /* Nothing: ask for a kick at the next buffer, then look once more (the re-check of 2.7.10). */
        atomic_store_explicit(avail_event, dev.shadow_avail, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        dev.shadow_avail = atomic_load_explicit(avail_idx, memory_order_acquire);
        if (dev.last_avail == dev.shadow_avail) return 0;
    }
    if ((uint16_t)(dev.shadow_avail - dev.last_avail) > RING) abort(); /* "Guest moved used index from %u to %u" */
    return 1;
}

static int device_pop_push(void)
{
    if (!device_has_work()) return 0;
    uint16_t head = avail_ring[dev.last_avail & (RING - 1)];
    dev.last_avail++;
    if (head >= RING) abort();
    struct vring_desc d = desc[head];
    if ((d.flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || d.len == 0 || d.addr < BUFS_OFF
        || d.addr > sizeof guest - d.len) abort();
    used_ring[dev.used_idx & (RING - 1)] = (struct vring_used_elem){ .id = head, .len = d.len };
    dev.used_idx++;
    atomic_store_explicit(used_idx_p, dev.used_idx, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst); /* smp_mb between used->idx and used_event */
    uint16_t old = dev.signalled_used;
    dev.signalled_used = dev.used_idx;
    if (vring_need_event(atomic_load_explicit(used_event, memory_order_relaxed), dev.used_idx, old)) {
        calls++;
        signal_fd(call_fd);
    }
    return 1;
}

static long total;

static void *device_main(void *arg)
{
    (void)arg;
    for (long done = 0; done < total;) {
        if (device_pop_push()) done++;
        else if (kick_fd >= 0) wait_fd(kick_fd);
    }
    return NULL;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int mode = argc > 1 ? atoi(argv[1]) : 1;
    total = argc > 2 ? atol(argv[2]) : 50000000L;
    if (mode < 1 || mode > 3 || total <= 0) {
        fprintf(stderr, "usage: cring MODE(1|2|3) BUFFERS\n");
        return 1;
    }
    desc = (struct vring_desc *)guest;
    unsigned char *avail = guest + 16 * RING;
    avail_flags = (uint16_t *)avail;
    avail_idx = (_Atomic uint16_t *)(avail + 2);
    avail_ring = (uint16_t *)(avail + 4);
    used_event = (_Atomic uint16_t *)(avail + 4 + 2 * RING);
    unsigned char *used = guest + USED_OFF(RING);
    used_idx_p = (_Atomic uint16_t *)(used + 2);
    used_ring = (struct vring_used_elem *)(used + 4);
    avail_event = (_Atomic uint16_t *)(used + 4 + 8 * RING);
    for (int i = 0; i < RING; i++) drv.next[i] = (uint16_t)(i + 1);
    drv.num_free = RING;

    double t0 = seconds();
    if (mode == 1) {
        for (long i = 0; i < total; i++) {
            driver_add();
            device_pop_push();
            driver_get();
        }
    } else {
        if (mode == 3) {
            kick_fd = eventfd(0, 0);
            call_fd = eventfd(0, 0);
            if (kick_fd < 0 || call_fd < 0) { perror("eventfd"); return 1; }
        }
        pthread_t device;
        if (pthread_create(&device, NULL, device_main, NULL) != 0) { perror("pthread_create"); return 1; }
        for (long added = 0, done = 0; done < total;) {
            while (added < total && driver_add()) added++;
            int got = 0;
            while (driver_get()) { done++; got++; }
            if (!got && mode == 3 && done < total) {
                /* used_event is already at last_used: re-check after a full barrier, then sleep on the call. */
                atomic_thread_fence(memory_order_seq_cst);
                if (atomic_load_explicit(used_idx_p, memory_order_acquire) == drv.last_used) wait_fd(call_fd);
            }
        }
        pthread_join(device, NULL);
    }
    double ns = (seconds() - t0) * 1e9 / (double)total;
    printf("mode=%d buffers=%ld ns_per_buf=%.2f kicks=%ld calls=%ld\n", mode, total, ns, kicks, calls);
    return 0;
}
