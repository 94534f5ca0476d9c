/* test_sampler.c: greedy, determinism under a seed, each filter, and the
 * defined choices on NaN and infinite logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"
#include "test.h"

#define NV 1000

static void fill_logits(float *l, unsigned seed)
{
    for (int i = 0; i < NV; i++) {
        seed = seed * 1103515245u + 12345u;
        l[i] = (float)((seed >> 8) % 10000) / 1000.0f;
    }
}

static void greedy_is_argmax(void)
{
    float l[NV];
    fill_logits(l, 1);
    l[537] = 100.0f;
    struct sampler_params p = sampler_defaults();
    p.temp = 0.0f;
    struct sampler s;
    CHECK(sampler_init(&s, &p, NV, NULL) == TL_OK, "init");
    CHECK(sampler_sample(&s, l) == 537, "greedy picks the max");
    CHECK(argmax(l, NV) == 537, "argmax");
    l[3] = 100.0f;
    CHECK(argmax(l, NV) == 3, "the lowest index wins ties");
    sampler_free(&s);
}

static void same_seed_same_tokens(void)
{
    float l[NV];
    struct sampler_params p = sampler_defaults();
    p.seed = 42;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.temp = 1.5f;
    struct sampler a, b, c;
    sampler_init(&a, &p, NV, NULL);
    sampler_init(&b, &p, NV, NULL);
    p.seed = 43;
    sampler_init(&c, &p, NV, NULL);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 50; i++) {
        fill_logits(l, (unsigned)i);
        int32_t x = sampler_sample(&a, l), y = sampler_sample(&b, l), z = sampler_sample(&c, l);
        same_ab &= x == y;
        same_ac &= x == z;
        CHECK(x >= 0 && x < NV, "token in range");
    }
    CHECK(same_ab, "same seed, same tokens");
    CHECK(!same_ac, "another seed, other tokens");
    sampler_free(&a);
    sampler_free(&b);
    sampler_free(&c);
}

static void top_k_limits_choices(void)
{
    float l[NV];
    fill_logits(l, 7);
    for (int i = 0; i < 3; i++)
        l[10 * i] = 20.0f + i;
    struct sampler_params p = sampler_defaults();
    p.top_k = 3;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.temp = 100.0f;   /* nearly uniform over the survivors */
    struct sampler s;
    sampler_init(&s, &p, NV, NULL);
    int seen[3] = { 0 };
    for (int i = 0; i < 300; i++) {
        int32_t t = sampler_sample(&s, l);
        CHECK(t == 0 || t == 10 || t == 20, "token %d is not among the top 3", t);
        if (t % 10 == 0 && t <= 20)
            seen[t / 10] = 1;
    }
    CHECK(seen[0] && seen[1] && seen[2], "every survivor is drawn");
    sampler_free(&s);
}

static void top_p_and_min_p(void)
{
    float l[NV];
    for (int i = 0; i < NV; i++)
        l[i] = -20.0f;
    l[5] = 10.0f;          /* p ~ 0.73 */
    l[6] = 9.0f;           /* p ~ 0.27 */
    struct sampler_params p = sampler_defaults();
    p.top_k = 0;
    p.min_p = 0.0f;
    p.temp = 1.0f;
    p.top_p = 0.5f;
    struct sampler s;
    sampler_init(&s, &p, NV, NULL);
    for (int i = 0; i < 200; i++)
        CHECK(sampler_sample(&s, l) == 5, "top-p 0.5 keeps only the best token");
    sampler_free(&s);
    p.top_p = 1.0f;
    p.min_p = 0.5f;        /* token 6 has 0.37 x the best: dropped */
    sampler_init(&s, &p, NV, NULL);
    for (int i = 0; i < 200; i++)
        CHECK(sampler_sample(&s, l) == 5, "min-p 0.5 drops the second token");
    sampler_free(&s);
}

/* The penalty tests' logits: 0 but token 1 at 5, 2 at 4, 3 at l3; and
 * greedy parameters over a window of last_n tokens. */
static struct sampler_params penalty_setup(float l[NV], float l3, int last_n)
{
    for (int i = 0; i < NV; i++)
        l[i] = 0.0f;
    l[1] = 5.0f;
    l[2] = 4.0f;
    l[3] = l3;
    struct sampler_params p = sampler_defaults();
    p.temp = 0.0f;
    p.repeat_last_n = last_n;
    return p;
}

static void repeat_penalty_window(void)
{
    float l[NV];
    struct sampler_params p = penalty_setup(l, 0.0f, 2);
    p.repeat_penalty = 2.0f;
    struct sampler s;
    sampler_init(&s, &p, NV, NULL);
    CHECK(sampler_sample(&s, l) == 1, "no history: the best token");
    sampler_accept(&s, 1);
    CHECK(sampler_sample(&s, l) == 2, "token 1 penalised to 2.5 < 4");
    sampler_accept(&s, 7);
    sampler_accept(&s, 8);
    CHECK(sampler_sample(&s, l) == 1, "token 1 left the window of 2");
    sampler_free(&s);
}

/* llama.cpp's arithmetic: logit -= count * frequency + presence, once per
 * distinct token in the window, after the repeat penalty. */
static void presence_frequency_penalties(void)
{
    float l[NV];
    struct sampler_params p = penalty_setup(l, 3.6f, 4);
    p.presence_penalty = 0.75f;
    struct sampler s;
    sampler_init(&s, &p, NV, NULL);
    sampler_accept(&s, 1);
    sampler_accept(&s, 1);
    CHECK(sampler_sample(&s, l) == 1, "presence once: 5 - 0.75 > 4");
    sampler_free(&s);
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.75f;
    sampler_init(&s, &p, NV, NULL);
    sampler_accept(&s, 1);
    CHECK(sampler_sample(&s, l) == 1, "one occurrence: 5 - 0.75 > 4");
    sampler_accept(&s, 1);
    CHECK(sampler_sample(&s, l) == 2, "two: 5 - 1.5 < 4");
    sampler_accept(&s, 2);
    sampler_accept(&s, 2);
    CHECK(sampler_sample(&s, l) == 3, "1 and 2 fall to 3.5 and 2.5: 3 (3.6) wins");
    sampler_free(&s);
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 1.0f;
    sampler_init(&s, &p, NV, NULL);
    sampler_accept(&s, 1);
    CHECK(sampler_sample(&s, l) == 2, "repeat first (5 / 2), then frequency: 1.5 < 4");
    sampler_free(&s);
}

/* A sampler at temperature temp (0: greedy) keeping top_k (0: all), the
 * other filters at their defaults. */
static void init_at(struct sampler *s, float temp, int top_k)
{
    struct sampler_params p = sampler_defaults();
    p.temp = temp;
    p.top_k = top_k;
    p.seed = 5;
    sampler_init(s, &p, NV, NULL);
}

/* NaN logits are never chosen, greedy or drawn, wherever they sort. */
static void nan_never_chosen(void)
{
    float l[NV];
    fill_logits(l, 3);
    for (int i = 0; i < NV; i += 3)
        l[i] = NAN;
    l[1] = 30.0f;          /* every other number is < 10: p(1) > 1 - 1e-8 */
    CHECK(argmax(l, NV) == 1, "argmax skips NaN (token 0 is NaN)");
    int top_k[] = { 0, 40, 2 };
    for (int t = 0; t < 3; t++) {
        struct sampler s;
        init_at(&s, 0.0f, top_k[t]);
        CHECK(sampler_sample(&s, l) == 1, "greedy skips NaN");
        sampler_free(&s);
        init_at(&s, 1.0f, top_k[t]);
        for (int i = 0; i < 100; i++) {
            int32_t x = sampler_sample(&s, l);
            CHECK(x == 1, "top_k %d: drew %d, not the one likely token", top_k[t], x);
        }
        sampler_free(&s);
    }
    /* only NaN and low numbers in the top k: a number is drawn */
    fill_logits(l, 4);
    for (int i = 0; i < NV; i++)
        l[i] = i % 2 ? NAN : l[i];
    struct sampler s;
    init_at(&s, 1.0f, 3);
    for (int i = 0; i < 100; i++) {
        int32_t x = sampler_sample(&s, l);
        CHECK(x >= 0 && x < NV && !isnan(l[x]), "drew %d", x);
    }
    sampler_free(&s);
}

/* No logit above -inf: no distribution to draw from, so greedy and
 * sampling both give the lowest id that is not NaN. */
static void all_minus_inf(void)
{
    float l[NV];
    for (int i = 0; i < NV; i++)
        l[i] = -INFINITY;
    for (int temp = 0; temp < 2; temp++) {
        struct sampler s;
        init_at(&s, (float)temp, 40);
        CHECK(sampler_sample(&s, l) == 0, "temp %d: token 0", temp);
        l[0] = NAN;
        CHECK(sampler_sample(&s, l) == 1, "temp %d: token 0 NaN, token 1", temp);
        l[0] = -INFINITY;
        sampler_free(&s);
    }
    CHECK(argmax(l, NV) == 0, "argmax of all -inf");
    /* -inf beside numbers: never drawn, even at a high temperature */
    l[7] = 0.0f;
    l[9] = 0.5f;
    struct sampler s;
    init_at(&s, 100.0f, 0);
    for (int i = 0; i < 100; i++) {
        int32_t x = sampler_sample(&s, l);
        CHECK(x == 7 || x == 9, "drew %d", x);
    }
    sampler_free(&s);
}

/* Every logit NaN: nothing to choose, -1 (callers report an error). */
static void all_nan(void)
{
    float l[NV];
    for (int i = 0; i < NV; i++)
        l[i] = NAN;
    CHECK(argmax(l, NV) == -1, "argmax of all NaN");
    for (int temp = 0; temp < 2; temp++) {
        struct sampler s;
        init_at(&s, (float)temp, temp ? 0 : 40);
        CHECK(sampler_sample(&s, l) == -1, "temp %d: -1", temp);
        int32_t tok = 0;
        struct tl_error err = { 0 };
        CHECK(sampler_pick(&s, l, &tok, &err) == TL_EFORMAT && strstr(err.msg, "NaN"), "pick: %s", err.msg);
        CHECK(sampler_pick(&s, NULL, &tok, &err) == TL_EINVAL, "no logits: %s", err.msg);
        l[NV - 1] = 0.0f;
        CHECK(sampler_pick(&s, l, &tok, &err) == TL_OK && tok == NV - 1, "one number: picked %d", tok);
        l[NV - 1] = NAN;
        sampler_free(&s);
    }
}

/* +inf logits share all the probability; greedy takes the first. */
static void plus_inf_shares(void)
{
    float l[NV];
    fill_logits(l, 9);
    l[4] = l[8] = INFINITY;
    l[6] = NAN;
    struct sampler s;
    init_at(&s, 0.0f, 40);
    CHECK(sampler_sample(&s, l) == 4, "greedy: the first +inf");
    sampler_free(&s);
    init_at(&s, 1.0f, 40);
    int seen4 = 0, seen8 = 0;
    for (int i = 0; i < 200; i++) {
        int32_t x = sampler_sample(&s, l);
        CHECK(x == 4 || x == 8, "drew %d", x);
        seen4 |= x == 4;
        seen8 |= x == 8;
    }
    CHECK(seen4 && seen8, "both +inf tokens drawn");
    sampler_free(&s);
}

int main(void)
{
    RUN_TEST(greedy_is_argmax);
    RUN_TEST(same_seed_same_tokens);
    RUN_TEST(top_k_limits_choices);
    RUN_TEST(top_p_and_min_p);
    RUN_TEST(repeat_penalty_window);
    RUN_TEST(presence_frequency_penalties);
    RUN_TEST(nan_never_chosen);
    RUN_TEST(all_minus_inf);
    RUN_TEST(all_nan);
    RUN_TEST(plus_inf_shares);
    return test_finish();
}
