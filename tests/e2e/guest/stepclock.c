/* stepclock NS: steps CLOCK_REALTIME by NS nanoseconds (ADJ_SETOFFSET), in
 * the monitoring lab's guest only (tests/e2e/monitor.sh): the known step the
 * host's `keel monitor` must recover. Prints "M STEPPED <NS>". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/timex.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stepclock NS\n");
		return 2;
	}
	long long ns = atoll(argv[1]);
	struct timex t = {0};
	t.modes = ADJ_SETOFFSET | ADJ_NANO;
	long long s = ns / 1000000000LL, r = ns % 1000000000LL;
	if (r < 0) {
		s -= 1;
		r += 1000000000LL;
	}
	t.time.tv_sec = s;
	t.time.tv_usec = r;
	if (clock_adjtime(CLOCK_REALTIME, &t) < 0) {
		perror("clock_adjtime");
		return 1;
	}
	printf("M STEPPED %lld\n", ns);
	return 0;
}
