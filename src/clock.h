/*
 * clock.h: the daemon's clocks. Every deadline, timer and key lifetime
 * reads agent_now_ms(); the unit tests turn it into a clock they move by
 * hand (clock_set_fake), so time-dependent logic is tested without waiting.
 */
#ifndef KMES_CLOCK_H
#define KMES_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_BOOTTIME (keeps counting through suspend). */
uint64_t agent_now_ms(void);
/* Microseconds on the same clock. */
uint64_t agent_now_us(void);
/* Parses an sshd_config-style time ("90", "1h30m"); -1 on error. */
long agent_convtime(const char *s);

/*
 * Tests only: makes agent_now_ms/us return *ms (and *ms * 1000) from now
 * on; NULL restores the real clock. Not thread-safe against readers: set
 * it before any loop runs.
 */
void clock_set_fake(const uint64_t *ms);

#endif /* KMES_CLOCK_H */
