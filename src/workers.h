/*
 * workers.h: a fixed pool of threads with a bounded queue, for the jobs
 * that must not run on an event loop (KDFs, dialogs, PKCS#11 helpers).
 */
#ifndef KMES_WORKERS_H
#define KMES_WORKERS_H

struct workers;

/*
 * Starts nthreads threads that run submitted jobs in order; at most qmax
 * jobs wait. With nthreads 0 the pool has no thread: jobs run only when
 * someone calls workers_run_queued (tests drive the daemon this way).
 * Returns the pool, or NULL on failure.
 */
struct workers *workers_new(unsigned int nthreads, unsigned int qmax);
/*
 * Queues fn(arg). Returns 0, or KMES_ERR_NO_BUFFER_SPACE when qmax jobs
 * already wait (fn is then not run and arg stays the caller's), or
 * KMES_ERR_DENIED once the pool is stopping.
 */
int workers_submit(struct workers *w, void (*fn)(void *), void *arg)
    __attribute__((warn_unused_result));
/* Runs every queued job on the calling thread; returns how many ran. */
unsigned int workers_run_queued(struct workers *w);
/* Jobs queued or running (for shutdown and tests). */
unsigned int workers_busy(struct workers *w);
/*
 * Refuses new jobs, runs those already queued (the queue is bounded, so
 * this ends), joins the threads and frees w. Accepts NULL.
 */
void workers_free(struct workers *w);

/*
 * A counting gate around memory-hungry work (scrypt: 16 MiB and more per
 * call): at most n callers hold it at once. Accepts n >= 1.
 */
struct workers_gate;
struct workers_gate *workers_gate_new(unsigned int n);
void workers_gate_enter(struct workers_gate *g);
void workers_gate_leave(struct workers_gate *g);
void workers_gate_free(struct workers_gate *g);

#endif /* KMES_WORKERS_H */
