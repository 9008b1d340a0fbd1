/* Involution's three maps on CPU for stride 1, one (batch, group) block at a time.
 *
 * Each block (the C/G channels of one group and their K*K kernel maps) is copied into a
 * zero-bordered scratch laid out with row pitch P = W_out + dilation*(K-1). On that pitch every
 * kernel tap is one constant offset along the flattened rows, so each output is a sum of K*K
 * contiguous, unmasked loads, vectorised over CHUNK positions that span row ends; the short rows
 * of small maps no longer leave the vector loop half empty. The few extra "columns" of each
 * scratch row are zero in the kernel maps and are never copied out.
 *
 * geo = {B, C, G, H, W, Ho, Wo, K, dilation, pad_top, pad_left}. All tensors contiguous.
 * Each entry point returns 0, INV_EGEOM for a geometry the plan cannot hold, or INV_ENOMEM when a
 * thread's scratch cannot be allocated (the output is then undefined; the caller raises).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INV_EGEOM -1
#define INV_ENOMEM -2

typedef struct {
    int64_t B, C, G, H, W, Ho, Wo, K, d, pt, pl;
    int64_t cg, kk, span, hp, p, nq, nt, lead, lx;
    int64_t off[1024];
} plan_t;

static int make_plan(const int64_t *geo, plan_t *s, int64_t chunk) {
    s->B = geo[0]; s->C = geo[1]; s->G = geo[2]; s->H = geo[3]; s->W = geo[4];
    s->Ho = geo[5]; s->Wo = geo[6]; s->K = geo[7]; s->d = geo[8]; s->pt = geo[9]; s->pl = geo[10];
    for (int i = 0; i < 11; i++)
        if (geo[i] < 0 || geo[i] > ((int64_t)1 << 30)) return INV_EGEOM;
    if (s->G < 1 || s->C % s->G || s->K < 1 || s->d < 1 || s->Ho < 1 || s->Wo < 1) return INV_EGEOM;
    s->cg = s->C / s->G;
    s->kk = s->K * s->K;
    if (s->kk > 1024) return INV_EGEOM;
    s->span = s->d * (s->K - 1);
    if (s->span > ((int64_t)1 << 30) || (s->Ho + s->span) * (s->Wo + s->span) > ((int64_t)1 << 58)) return INV_EGEOM;
    s->hp = s->Ho + s->span;                                  /* padded rows the taps read */
    s->p = s->Wo + s->span;                                   /* row pitch of every scratch */
    s->nq = (s->Ho * s->p + chunk - 1) / chunk * chunk;       /* output positions, whole chunks */
    s->nt = (s->hp * s->p + chunk - 1) / chunk * chunk;       /* padded-input positions */
    s->lead = s->span * s->p + s->span;                       /* largest tap offset */
    s->lx = s->nq + s->lead;                                  /* padded input as the forward reads it */
    for (int64_t i = 0; i < s->K; i++)
        for (int64_t j = 0; j < s->K; j++) s->off[i * s->K + j] = i * s->d * s->p + j * s->d;
    return 0;
}

/* calloc of a*b + c elements of size sz; NULL on overflow or failure. */
static void *scratch(int64_t a, int64_t b, int64_t c, size_t sz) {
    int64_t n;
    if (__builtin_mul_overflow(a, b, &n) || __builtin_add_overflow(n, c, &n)) return NULL;
    return calloc((size_t)n, sz);
}

/* Copy n bytes (a multiple of 4, < 2^31) with fixed-size moves, overlapping the last one: rows of a
 * few elements are most of the copying at small maps, and a memcpy call per row cost more than the
 * arithmetic. */
static inline __attribute__((always_inline)) void copy_row(void *dst, const void *src, int64_t n) {
    char *d = dst;
    const char *a = src;
    if (n >= 32) {
        int64_t i = 0;
        for (; i + 32 <= n; i += 32) __builtin_memcpy(d + i, a + i, 32);
        if (i < n) __builtin_memcpy(d + n - 32, a + n - 32, 32);
    } else if (n >= 16) {
        __builtin_memcpy(d, a, 16);
        __builtin_memcpy(d + n - 16, a + n - 16, 16);
    } else if (n >= 8) {
        __builtin_memcpy(d, a, 8);
        __builtin_memcpy(d + n - 8, a + n - 8, 8);
    } else if (n >= 4) {
        __builtin_memcpy(d, a, 4);
    }
}

#define CB 4 /* channels per pass of the forward and input-gradient loops */

/* Explicit vectors of the widest ISA the compiler targets (-march=native), two per chunk. */
#if defined(__AVX512F__)
#define VBYTES 64
#else
#define VBYTES 32
#endif
typedef float vec_f32 __attribute__((vector_size(VBYTES), aligned(4), may_alias));
typedef double vec_f64 __attribute__((vector_size(VBYTES), aligned(8), may_alias));
#define NV 2

#define DEFINE_LOOPS(T, SUF, CHUNK, V)                                                                 \
                                                                                                       \
/* dst (hp x p, pitch p) <- src (H x W) shifted by the padding; the border stays as it was (zero). */   \
static void pad_in_##SUF(const plan_t *s, const T *src, T *dst) {                                       \
    int64_t c0 = s->pl, c1 = s->W + s->pl < s->p ? s->W + s->pl : s->p;                                  \
    int64_t r0 = s->pt, r1 = s->H + s->pt < s->hp ? s->H + s->pt : s->hp;                                \
    for (int64_t r = r0; r < r1; r++)                                                                    \
        copy_row(dst + r * s->p + c0, src + (r - s->pt) * s->W, (c1 - c0) * (int64_t)sizeof(T));         \
}                                                                                                        \
                                                                                                         \
/* dst (Ho x p, pitch p) <- src (Ho x Wo); columns >= Wo stay zero. */                                   \
static void to_pitch_##SUF(const plan_t *s, const T *src, T *dst) {                                     \
    for (int64_t r = 0; r < s->Ho; r++) copy_row(dst + r * s->p, src + r * s->Wo, s->Wo * (int64_t)sizeof(T)); \
}                                                                                                        \
                                                                                                         \
static void from_pitch_##SUF(const plan_t *s, const T *src, T *dst) {                                   \
    for (int64_t r = 0; r < s->Ho; r++) copy_row(dst + r * s->Wo, src + r * s->p, s->Wo * (int64_t)sizeof(T)); \
}                                                                                                        \
                                                                                                         \
int inv_fwd_##SUF(const T *x, const T *w, T *y, const int64_t *geo, int nthreads) {                  \
    plan_t s;                                                                                          \
    if (make_plan(geo, &s, CHUNK)) return INV_EGEOM;                                                   \
    int fail = 0;                                                                                      \
    _Pragma("omp parallel num_threads(nthreads)")                                                      \
    {                                                                                                  \
        T *wq = scratch(s.kk + CB, s.nq, CB * s.lx, sizeof(T));                                   \
        T *xp = wq ? wq + s.kk * s.nq : NULL, *ye = xp ? xp + CB * s.lx : NULL;                        \
        if (!wq) { _Pragma("omp atomic write") fail = 1; }                                             \
        _Pragma("omp for schedule(static)")                                                            \
        for (int64_t bg = 0; bg < s.B * s.G; bg++) {                                                   \
            if (!wq) continue;                                                                         \
            const T *wb = w + bg * s.kk * s.Ho * s.Wo;                                                 \
            for (int64_t k = 0; k < s.kk; k++) to_pitch_##SUF(&s, wb + k * s.Ho * s.Wo, wq + k * s.nq); \
            for (int64_t c0 = 0; c0 < s.cg; c0 += CB) {                                                \
                int64_t nc = s.cg - c0 < CB ? s.cg - c0 : CB;                                          \
                for (int64_t c = 0; c < nc; c++) pad_in_##SUF(&s, x + (bg * s.cg + c0 + c) * s.H * s.W, xp + c * s.lx); \
                for (int64_t q0 = 0; q0 < s.nq; q0 += CHUNK) {                                         \
                    if (nc == CB) {                                                                    \
                        /* CB channels share each load of the kernel map */                            \
                        V acc[CB][NV] = {{0}};                                                         \
                        for (int64_t k = 0; k < s.kk; k++) {                                           \
                            const T *xs = xp + s.off[k] + q0, *ws = wq + k * s.nq + q0;                \
                            for (int c = 0; c < CB; c++)                                               \
                                for (int v = 0; v < NV; v++) acc[c][v] += *(const V *)(ws + v * (CHUNK / NV)) * *(const V *)(xs + c * s.lx + v * (CHUNK / NV)); \
                        }                                                                              \
                        for (int c = 0; c < CB; c++) memcpy(ye + c * s.nq + q0, acc[c], sizeof(acc[c])); \
                    } else {                                                                           \
                        for (int64_t c = 0; c < nc; c++) {                                             \
                            V acc[NV] = {0};                                                           \
                            for (int64_t k = 0; k < s.kk; k++) {                                       \
                                const T *xs = xp + c * s.lx + s.off[k] + q0, *ws = wq + k * s.nq + q0; \
                                for (int v = 0; v < NV; v++) acc[v] += *(const V *)(ws + v * (CHUNK / NV)) * *(const V *)(xs + v * (CHUNK / NV)); \
                            }                                                                          \
                            memcpy(ye + c * s.nq + q0, acc, sizeof(acc));                              \
                        }                                                                              \
                    }                                                                                  \
                }                                                                                      \
                for (int64_t c = 0; c < nc; c++) from_pitch_##SUF(&s, ye + c * s.nq, y + (bg * s.cg + c0 + c) * s.Ho * s.Wo); \
            }                                                                                          \
        }                                                                                              \
        free(wq);                                                                                      \
    }                                                                                                  \
    return fail ? INV_ENOMEM : 0;                                                                      \
}                                                                                                      \
                                                                                                       \
/* gx = tx(gy, w): each padded-input position gathers from the K*K outputs that read it. */          \
int inv_tx_##SUF(const T *gy, const T *w, T *gx, const int64_t *geo, int nthreads) {                 \
    plan_t s;                                                                                          \
    if (make_plan(geo, &s, CHUNK)) return INV_EGEOM;                                                   \
    int64_t n = s.lead + s.nt;                                                                         \
    /* input rows and columns inside the padded frame; the rest get no gradient */                    \
    int64_t r1 = s.H + s.pt < s.hp ? s.H : s.hp - s.pt, c1 = s.W + s.pl < s.p ? s.W : s.p - s.pl;      \
    if (r1 < 0) r1 = 0;                                                                                \
    if (c1 < 0) c1 = 0;                                                                                \
    int fail = 0;                                                                                      \
    _Pragma("omp parallel num_threads(nthreads)")                                                      \
    {                                                                                                  \
        T *wq = scratch(s.kk + CB, n, CB * s.nt, sizeof(T));                                         \
        T *gq = wq ? wq + s.kk * n : NULL, *gp = gq ? gq + CB * n : NULL;                              \
        if (!wq) { _Pragma("omp atomic write") fail = 1; }                                             \
        _Pragma("omp for schedule(static)")                                                            \
        for (int64_t bg = 0; bg < s.B * s.G; bg++) {                                                   \
            if (!wq) continue;                                                                         \
            const T *wb = w + bg * s.kk * s.Ho * s.Wo;                                                 \
            for (int64_t k = 0; k < s.kk; k++) to_pitch_##SUF(&s, wb + k * s.Ho * s.Wo, wq + k * n + s.lead); \
            for (int64_t c0 = 0; c0 < s.cg; c0 += CB) {                                                \
                int64_t nc = s.cg - c0 < CB ? s.cg - c0 : CB;                                          \
                for (int64_t c = 0; c < nc; c++) to_pitch_##SUF(&s, gy + (bg * s.cg + c0 + c) * s.Ho * s.Wo, gq + c * n + s.lead); \
                for (int64_t t0 = 0; t0 < s.nt; t0 += CHUNK) {                                         \
                    if (nc == CB) {                                                                    \
                        V acc[CB][NV] = {{0}};                                                         \
                        for (int64_t k = 0; k < s.kk; k++) {                                           \
                            int64_t o = s.lead + t0 - s.off[k];                                        \
                            const T *gs = gq + o, *ws = wq + k * n + o;                                \
                            for (int c = 0; c < CB; c++)                                               \
                                for (int v = 0; v < NV; v++) acc[c][v] += *(const V *)(ws + v * (CHUNK / NV)) * *(const V *)(gs + c * n + v * (CHUNK / NV)); \
                        }                                                                              \
                        for (int c = 0; c < CB; c++) memcpy(gp + c * s.nt + t0, acc[c], sizeof(acc[c])); \
                    } else {                                                                           \
                        for (int64_t c = 0; c < nc; c++) {                                             \
                            V acc[NV] = {0};                                                           \
                            for (int64_t k = 0; k < s.kk; k++) {                                       \
                                int64_t o = s.lead + t0 - s.off[k];                                    \
                                const T *gs = gq + c * n + o, *ws = wq + k * n + o;                    \
                                for (int v = 0; v < NV; v++) acc[v] += *(const V *)(ws + v * (CHUNK / NV)) * *(const V *)(gs + v * (CHUNK / NV)); \
                            }                                                                          \
                            memcpy(gp + c * s.nt + t0, acc, sizeof(acc));                              \
                        }                                                                              \
                    }                                                                                  \
                }                                                                                      \
                for (int64_t c = 0; c < nc; c++) {                                                     \
                    T *dst = gx + (bg * s.cg + c0 + c) * s.H * s.W;                                    \
                    const T *src = gp + c * s.nt + s.pt * s.p + s.pl;                                  \
                    for (int64_t r = 0; r < r1; r++) {                                                 \
                        copy_row(dst + r * s.W, src + r * s.p, c1 * (int64_t)sizeof(T));               \
                        for (int64_t col = c1; col < s.W; col++) dst[r * s.W + col] = 0;               \
                    }                                                                                  \
                    for (int64_t i = r1 * s.W; i < s.H * s.W; i++) dst[i] = 0;                         \
                }                                                                                      \
            }                                                                                          \
        }                                                                                              \
        free(wq);                                                                                      \
    }                                                                                                  \
    return fail ? INV_ENOMEM : 0;                                                                      \
}                                                                                                      \
                                                                                                       \
/* gw = cx(gy, x): per tap, the sum over the group's channels of gy times the shifted input. */      \
int inv_cx_##SUF(const T *gy, const T *x, T *gw, const int64_t *geo, int nthreads) {                 \
    plan_t s;                                                                                          \
    if (make_plan(geo, &s, CHUNK)) return INV_EGEOM;                                                   \
    int fail = 0;                                                                                      \
    _Pragma("omp parallel num_threads(nthreads)")                                                      \
    {                                                                                                  \
        T *xp = scratch(s.cg, s.lx + s.nq, s.nq, sizeof(T));                                   \
        T *gq = xp ? xp + s.cg * s.lx : NULL, *ge = gq ? gq + s.cg * s.nq : NULL;                      \
        if (!xp) { _Pragma("omp atomic write") fail = 1; }                                             \
        _Pragma("omp for schedule(static)")                                                            \
        for (int64_t bg = 0; bg < s.B * s.G; bg++) {                                                   \
            if (!xp) continue;                                                                         \
            for (int64_t c = 0; c < s.cg; c++) {                                                       \
                pad_in_##SUF(&s, x + (bg * s.cg + c) * s.H * s.W, xp + c * s.lx);                      \
                to_pitch_##SUF(&s, gy + (bg * s.cg + c) * s.Ho * s.Wo, gq + c * s.nq);                 \
            }                                                                                          \
            for (int64_t k = 0; k < s.kk; k++) {                                                       \
                for (int64_t q0 = 0; q0 < s.nq; q0 += CHUNK) {                                         \
                    V acc[NV] = {0};                                                                   \
                    for (int64_t c = 0; c < s.cg; c++) {                                               \
                        const T *xs = xp + c * s.lx + s.off[k] + q0, *gs = gq + c * s.nq + q0;         \
                        for (int v = 0; v < NV; v++) acc[v] += *(const V *)(gs + v * (CHUNK / NV)) * *(const V *)(xs + v * (CHUNK / NV)); \
                    }                                                                                  \
                    memcpy(ge + q0, acc, sizeof(acc));                                                 \
                }                                                                                      \
                from_pitch_##SUF(&s, ge, gw + (bg * s.kk + k) * s.Ho * s.Wo);                          \
            }                                                                                          \
        }                                                                                              \
        free(xp);                                                                                      \
    }                                                                                                  \
    return fail ? INV_ENOMEM : 0;                                                                      \
}

DEFINE_LOOPS(float, f32, 2 * VBYTES / 4, vec_f32)
DEFINE_LOOPS(double, f64, 2 * VBYTES / 8, vec_f64)
