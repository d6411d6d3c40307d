/* The time DCV decisions are taken at (code expiry, reuse windows, the e-mail method's
 * sunset). A production build reads the system clock. A test build (-DEC_TEST_CLOCK) adds the
 * seconds written in the file named by $ECERT_TEST_CLOCK, so a test can move 31 or 201 days
 * on without a directive that a production CA could ever be given. */
#ifndef EC_CLOCK_H
#define EC_CLOCK_H

#include <time.h>

time_t ec_clock_now(void);

#endif
