/* test_rng.c: the seeded generator is reproducible, uniform enough and the
 * shuffle is a permutation. */
#include "check.h"
#include "internal.h"

int main(void) {
    sermo_rng a, b;
    sermo_rng_seed(&a, 42);
    sermo_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= sermo_rng_next(&a) == sermo_rng_next(&b);
    CHECK(same, "same seed, different sequence");

    sermo_rng_seed(&b, 43);
    CHECK(sermo_rng_next(&a) != sermo_rng_next(&b), "different seeds agree");

    /* Known answer: splitmix64(0)'s first output (Vigna's reference). */
    uint64_t x = 0, z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    CHECK(z == 0xe220a8397b1dcdafull, "splitmix64 reference value %llx", (unsigned long long)z);

    long counts[10] = {0};
    for (int i = 0; i < 100000; i++) counts[sermo_rng_below(&a, 10)]++;
    for (int k = 0; k < 10; k++)
        CHECK(counts[k] > 9500 && counts[k] < 10500, "bucket %d has %ld of 100000", k, counts[k]);

    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = sermo_rng_uniform(&a);
        CHECK(u >= 0 && u < 1, "uniform out of range: %g", u);
        sum += u;
    }
    CHECK(fabs(sum / 100000 - 0.5) < 0.01, "uniform mean %g", sum / 100000);

    int64_t v[100], seen[100] = {0};
    for (int i = 0; i < 100; i++) v[i] = i;
    sermo_rng_shuffle(&a, v, 100);
    int moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[v[i]]++;
        moved += v[i] != i;
    }
    int perm = 1;
    for (int i = 0; i < 100; i++) perm &= seen[i] == 1;
    CHECK(perm, "shuffle is not a permutation");
    CHECK(moved > 50, "shuffle moved only %d of 100", moved);

    CHECK(strcmp(sermo_status_str(SERMO_ERR_IO), "input/output error") == 0, "status string");
    sermo_error err;
    CHECK(sermo_fail(&err, SERMO_ERR_FORMAT, "%s: %s", "x.wav", "bad") == SERMO_ERR_FORMAT &&
              strcmp(err.msg, "x.wav: bad") == 0 && err.status == SERMO_ERR_FORMAT,
          "sermo_fail message: %s", err.msg);
    return check_report();
}
