/*
 * The deadline heap. See wdt_heap.h.
 */
#include "wdt_heap.h"

static void wdt_heap_set(struct vmwdt *dev, uint32_t pos, struct wdt_heap_entry e)
{
    dev->rt.heap[pos] = e;
    dev->slots[e.cpu].heap_pos = pos;
}

static void wdt_heap_up(struct vmwdt *dev, uint32_t pos)
{
    struct wdt_heap_entry e = dev->rt.heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (dev->rt.heap[parent].key <= e.key)
            break;
        wdt_heap_set(dev, pos, dev->rt.heap[parent]);
        pos = parent;
    }
    wdt_heap_set(dev, pos, e);
}

static void wdt_heap_down(struct vmwdt *dev, uint32_t pos)
{
    struct wdt_runtime *rt = &dev->rt;
    struct wdt_heap_entry e = rt->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= rt->heap_len)
            break;
        if (child + 1 < rt->heap_len && rt->heap[child + 1].key < rt->heap[child].key)
            child++;
        if (e.key <= rt->heap[child].key)
            break;
        wdt_heap_set(dev, pos, rt->heap[child]);
        pos = child;
    }
    wdt_heap_set(dev, pos, e);
}

/* Takes the entry at pos out of the heap. */
static void wdt_heap_remove(struct vmwdt *dev, uint32_t pos)
{
    struct wdt_runtime *rt = &dev->rt;
    atomic_store(&dev->slots[rt->heap[pos].cpu].heap_key, INT64_MAX);
    if (--rt->heap_len == pos)
        return;
    struct wdt_heap_entry moved = rt->heap[rt->heap_len];
    wdt_heap_set(dev, pos, moved);
    wdt_heap_up(dev, pos);
    wdt_heap_down(dev, dev->slots[moved.cpu].heap_pos);
}

uint32_t wdt_heap_pop(struct vmwdt *dev)
{
    uint32_t cpu = dev->rt.heap[0].cpu;
    wdt_heap_remove(dev, 0);
    return cpu;
}

void wdt_heap_clear(struct vmwdt *dev)
{
    for (uint32_t i = 0; i < dev->rt.heap_len; i++)
        atomic_store(&dev->slots[dev->rt.heap[i].cpu].heap_key, INT64_MAX);
    dev->rt.heap_len = 0;
}

void wdt_heap_lower(struct vmwdt *dev, uint32_t cpu, int64_t key)
{
    struct wdt_slot *s = &dev->slots[cpu];
    struct wdt_runtime *rt = &dev->rt;
    if (atomic_load(&s->heap_key) == INT64_MAX) {
        s->heap_pos = rt->heap_len++;
        rt->heap[s->heap_pos].cpu = cpu;
    }
    rt->heap[s->heap_pos].key = key;
    atomic_store(&s->heap_key, key);
    wdt_heap_up(dev, s->heap_pos);
}

void wdt_heap_settle(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    while (rt->heap_len > 0) {
        uint32_t cpu = rt->heap[0].cpu;
        struct wdt_slot *s = &dev->slots[cpu];
        int64_t deadline = atomic_load(&s->deadline);
        if (deadline <= rt->heap[0].key)
            return;
        if (deadline == INT64_MAX) {
            wdt_heap_remove(dev, 0);
        } else {
            rt->heap[0].key = deadline;
            atomic_store(&s->heap_key, deadline);
            wdt_heap_down(dev, 0);
        }
        /*
         * A pet or enable that published an earlier deadline after the load above, but read
         * the key before the store that raised it, left the heap alone (see wdt_rt_queue).
         * Its deadline store precedes that key store, so this load sees it: queue it now.
         */
        int64_t again = atomic_load(&s->deadline);
        if (again < deadline)
            wdt_heap_lower(dev, cpu, again);
    }
}

int64_t wdt_heap_top(struct vmwdt *dev)
{
    return dev->rt.heap_len > 0 ? dev->rt.heap[0].key : INT64_MAX;
}
