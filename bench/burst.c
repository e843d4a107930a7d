/* A translation unit for the "parallel build" background load of
 * bench/compare-guest.sh: enough code that cc -O2 works a while on it. */
#include <stddef.h>

#define STEP(n) static unsigned long f##n(unsigned long x) \
	{ for (size_t i = 0; i < 64; i++) x = x * 6364136223846793005UL + (i ^ n); return x; }
#define TEN(n) STEP(n##0) STEP(n##1) STEP(n##2) STEP(n##3) STEP(n##4) \
	STEP(n##5) STEP(n##6) STEP(n##7) STEP(n##8) STEP(n##9)
TEN(1) TEN(2) TEN(3)

#define CALL(n) x = f##n(x);
#define CALLS(n) CALL(n##0) CALL(n##1) CALL(n##2) CALL(n##3) CALL(n##4) \
	CALL(n##5) CALL(n##6) CALL(n##7) CALL(n##8) CALL(n##9)
unsigned long burst(unsigned long x)
{
	CALLS(1) CALLS(2) CALLS(3)
	return x;
}
