/* Involution's three maps on CPU for stride 1, one (batch, group) block at a time.
 *
 * Each block (the C/G channels of one group and their K*K kernel maps) is copied into a
 * zero-bordered scratch laid out with row pitch P = W_out + dilation*(K-1). On that pitch every
 * kernel tap is one constant offset along the flattened rows, so each output is a sum of K*K
 * contiguous, unmasked loads, vectorised over one vector of positions that spans row ends; the
 * short rows of small maps no longer leave the vector loop half empty. The few extra "columns" of
 * each scratch row are zero in the kernel maps and are never copied out.
 *
 * Maps as wide as their output (W_out == W: "same" padding, every GAN shape) skip the pitch and run
 * in the tensors' own layout with a column mask per tap (see nat_fwd): one copy per map instead of
 * one per row, which is most of the time at 4x4. Other widths use the pitched scratch.
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

/* Explicit vectors of the widest ISA the compiler targets (-march=native). */
#if defined(__AVX512F__)
#define VBYTES 64
#else
#define VBYTES 32
#endif
typedef float vec_f32 __attribute__((vector_size(VBYTES), aligned(4), may_alias));
typedef double vec_f64 __attribute__((vector_size(VBYTES), aligned(8), may_alias));
typedef int32_t veci_f32 __attribute__((vector_size(VBYTES), aligned(4), may_alias));
typedef int64_t veci_f64 __attribute__((vector_size(VBYTES), aligned(8), may_alias));

typedef struct {
    int64_t B, C, G, H, W, Ho, Wo, K, d, pt, pl;
    int64_t cg, kk, span, hp, p, nq, lead, lx, t0, nt, n;
    int64_t off[1024];
} plan_t;

static int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

/* vl: elements per vector. Positions run in whole vectors, from the first one needed to the last. */
static int make_plan(const int64_t *geo, plan_t *s, int64_t vl) {
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
    s->nq = round_up((s->Ho - 1) * s->p + s->Wo, vl);         /* output positions up to the last valid one */
    s->lead = s->span * s->p + s->span;                       /* largest tap offset */
    s->lx = s->nq + s->lead;                                  /* padded input as the forward reads it */
    /* The input gradient is needed only where the input sits inside the padded frame. */
    int64_t r1 = s->H + s->pt < s->hp ? s->H + s->pt : s->hp, c1 = s->W + s->pl < s->p ? s->W + s->pl : s->p;
    s->t0 = s->pt * s->p + s->pl;
    s->nt = r1 > s->pt && c1 > s->pl ? round_up((r1 - 1) * s->p + c1 - s->t0, vl) : 0;
    /* gy and w as the input gradient reads (and copies) them, after lead zeros */
    s->n = s->lead + (s->t0 + s->nt > s->nq ? s->t0 + s->nt : s->nq);
    for (int64_t i = 0; i < s->K; i++)
        for (int64_t j = 0; j < s->K; j++) s->off[i * s->K + j] = i * s->d * s->p + j * s->d;
    return 0;
}

/* The natural layout of same-width maps (see nat_fwd): tap offsets in the tensors' own layout. */
typedef struct {
    int64_t kk, nq, nt, lx, ln, mlo, mg;
    int64_t off[1024], mcol[1024];
} nat_t;

static void nat_plan(const plan_t *s, nat_t *n, int64_t vl) {
    n->kk = s->kk;
    n->nq = round_up(s->Ho * s->W, vl);                       /* output positions */
    n->nt = round_up(s->H * s->W, vl);                        /* input positions */
    n->mlo = s->pt * s->W + s->pl;                            /* -(smallest tap offset) */
    int64_t hi = (s->span - s->pt) * s->W + s->span - s->pl;  /* largest tap offset */
    n->mg = hi > 0 ? hi : 0;
    n->lx = n->mlo + (s->H * s->W > n->nq + n->mg ? s->H * s->W : n->nq + n->mg);
    n->ln = n->mg + (s->Ho * s->W > n->nt + n->mlo ? s->Ho * s->W : n->nt + n->mlo);
    for (int64_t i = 0; i < s->K; i++)
        for (int64_t j = 0; j < s->K; j++) {
            n->off[i * s->K + j] = (i * s->d - s->pt) * s->W + j * s->d - s->pl;
            n->mcol[i * s->K + j] = j;
        }
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

#define DEFINE_LOOPS(T, SUF, V, VI, IT)                                                                            \
enum { VL_##SUF = VBYTES / sizeof(T) };                                                                  \
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
/* ---- Same-width maps (W_out == W): the natural layout ----                                           \
 * When the output is as wide as the input, output q = r*W + c and the input it reads at tap (i, j)     \
 * are one constant offset apart in the tensors' own layout, so no row is re-pitched: the input gets    \
 * zero rows above and below by one contiguous copy per map, kernel maps, outputs and gradients are     \
 * read and written in place (through a scratch only when H*W is not a whole number of vectors),        \
 * and a column mask per tap column j clears the lanes whose read wrapped into the neighbouring row.    \
 * Masking the wrapped operand (not the product) keeps the reference's arithmetic: a padded tap         \
 * contributes w * 0, a tap outside the output contributes nothing. At 4x4 this does one copy per       \
 * map instead of one per row. */                                                                       \
/* K masks of len positions: lane q of mask j is all ones where column (q mod W) + dir*(j*d - pl)       \
 * lies inside [0, W): dir +1 for the forward and kernel gradient, -1 for the input gradient. */        \
static VI *column_masks_##SUF(const plan_t *s, int64_t len, int64_t dir) {                              \
    IT *m = scratch(s->K, len, 0, sizeof(IT));                                                          \
    if (!m) return NULL;                                                                                \
    for (int64_t j = 0; j < s->K; j++)                                                                  \
        for (int64_t q = 0; q < len; q++) {                                                             \
            int64_t col = q % s->W + dir * (j * s->d - s->pl);                                          \
            m[j * len + q] = col >= 0 && col < s->W ? -1 : 0;                                           \
        }                                                                                               \
    return (VI *)m;                                                                                     \
}                                                                                                       \
                                                                                                        \
static inline __attribute__((always_inline)) void nfwd_pass_##SUF(const nat_t *n, const T *xs, const T *wq, const VI *cm, T *const *dst, const int NC) { \
    for (int64_t q0 = 0; q0 < n->nq; q0 += VL_##SUF) {                                                  \
        V acc[8] = {0};                                                                                 \
        for (int64_t k = 0; k < n->kk; k++) {                                                           \
            V wv = *(const V *)(wq + k * n->nq + q0);                                                   \
            VI m = *(const VI *)((const T *)cm + n->mcol[k] * n->nq + q0);                              \
            const T *xk = xs + n->off[k] + q0;                                                          \
            for (int c = 0; c < NC; c++) acc[c] += wv * (V)((VI)(*(const V *)(xk + c * n->lx)) & m);    \
        }                                                                                               \
        for (int c = 0; c < NC; c++) *(V *)(dst[c] + q0) = acc[c];                                      \
    }                                                                                                   \
}                                                                                                       \
                                                                                                        \
static int nat_fwd_##SUF(const plan_t *s, const nat_t *n, const T *x, const T *w, T *y, int nthreads) { \
    const int64_t hw = s->Ho * s->W, exact = hw == n->nq;                                               \
    VI *cm = column_masks_##SUF(s, n->nq, 1);                                                           \
    if (!cm) return INV_ENOMEM;                                                                         \
    int fail = 0;                                                                                       \
    _Pragma("omp parallel num_threads(nthreads)")                                                       \
    {                                                                                                   \
        T *xs = scratch(8, n->lx, exact ? 0 : (s->kk + 8) * n->nq, sizeof(T));                          \
        T *wq = xs ? xs + 8 * n->lx : NULL, *ye = wq ? wq + s->kk * n->nq : NULL;                       \
        if (!xs) { _Pragma("omp atomic write") fail = 1; }                                              \
        _Pragma("omp for schedule(static)")                                                             \
        for (int64_t bg = 0; bg < s->B * s->G; bg++) {                                                  \
            if (!xs) continue;                                                                          \
            const T *wb = w + bg * s->kk * hw;                                                          \
            if (!exact) {                                                                               \
                for (int64_t k = 0; k < s->kk; k++) copy_row(wq + k * n->nq, wb + k * hw, hw * (int64_t)sizeof(T)); \
                wb = wq;                                                                                \
            }                                                                                           \
            for (int64_t c0 = 0, nc; c0 < s->cg; c0 += nc) {                                            \
                nc = s->cg - c0 >= 8 ? 8 : s->cg - c0 >= 4 ? 4 : 1;                                     \
                T *dst[8];                                                                              \
                for (int64_t c = 0; c < nc; c++) {                                                      \
                    copy_row(xs + c * n->lx + n->mlo, x + (bg * s->cg + c0 + c) * s->H * s->W, s->H * s->W * (int64_t)sizeof(T)); \
                    dst[c] = exact ? y + (bg * s->cg + c0 + c) * hw : ye + c * n->nq;                   \
                }                                                                                       \
                if (nc == 8) nfwd_pass_##SUF(n, xs + n->mlo, wb, cm, dst, 8);                           \
                else if (nc == 4) nfwd_pass_##SUF(n, xs + n->mlo, wb, cm, dst, 4);                      \
                else nfwd_pass_##SUF(n, xs + n->mlo, wb, cm, dst, 1);                                   \
                if (!exact)                                                                             \
                    for (int64_t c = 0; c < nc; c++) copy_row(y + (bg * s->cg + c0 + c) * hw, dst[c], hw * (int64_t)sizeof(T)); \
            }                                                                                           \
        }                                                                                               \
        free(xs);                                                                                       \
    }                                                                                                   \
    free(cm);                                                                                           \
    return fail ? INV_ENOMEM : 0;                                                                       \
}                                                                                                       \
                                                                                                        \
/* gx[c][t] = sum_k [output t - off[k] exists] w[k] * gy[c], both read at t - off[k]. */                \
static inline __attribute__((always_inline)) void ntx_pass_##SUF(const nat_t *n, const T *gq, const T *wq, const VI *cm, T *const *dst, const int NC) { \
    for (int64_t t0 = 0; t0 < n->nt; t0 += VL_##SUF) {                                                  \
        V acc[8] = {0};                                                                                 \
        for (int64_t k = 0; k < n->kk; k++) {                                                           \
            int64_t o = t0 - n->off[k];                                                                 \
            VI m = *(const VI *)((const T *)cm + n->mcol[k] * n->nt + t0);                              \
            V wv = (V)((VI)(*(const V *)(wq + k * n->ln + o)) & m);                                     \
            for (int c = 0; c < NC; c++) acc[c] += wv * (V)((VI)(*(const V *)(gq + c * n->ln + o)) & m); \
        }                                                                                               \
        for (int c = 0; c < NC; c++) *(V *)(dst[c] + t0) = acc[c];                                      \
    }                                                                                                   \
}                                                                                                       \
                                                                                                        \
static int nat_tx_##SUF(const plan_t *s, const nat_t *n, const T *gy, const T *w, T *gx, int nthreads) { \
    const int64_t hw = s->Ho * s->W, ihw = s->H * s->W, exact = ihw == n->nt;                           \
    VI *cm = column_masks_##SUF(s, n->nt, -1);                                                          \
    if (!cm) return INV_ENOMEM;                                                                         \
    int fail = 0;                                                                                       \
    _Pragma("omp parallel num_threads(nthreads)")                                                       \
    {                                                                                                   \
        T *wq = scratch(s->kk + 8, n->ln, exact ? 0 : 8 * n->nt, sizeof(T));                            \
        T *gq = wq ? wq + s->kk * n->ln : NULL, *gp = gq ? gq + 8 * n->ln : NULL;                       \
        if (!wq) { _Pragma("omp atomic write") fail = 1; }                                              \
        _Pragma("omp for schedule(static)")                                                             \
        for (int64_t bg = 0; bg < s->B * s->G; bg++) {                                                  \
            if (!wq) continue;                                                                          \
            for (int64_t k = 0; k < s->kk; k++) copy_row(wq + k * n->ln + n->mg, w + (bg * s->kk + k) * hw, hw * (int64_t)sizeof(T)); \
            for (int64_t c0 = 0, nc; c0 < s->cg; c0 += nc) {                                            \
                nc = s->cg - c0 >= 8 ? 8 : s->cg - c0 >= 4 ? 4 : 1;                                     \
                T *dst[8];                                                                              \
                for (int64_t c = 0; c < nc; c++) {                                                      \
                    copy_row(gq + c * n->ln + n->mg, gy + (bg * s->cg + c0 + c) * hw, hw * (int64_t)sizeof(T)); \
                    dst[c] = exact ? gx + (bg * s->cg + c0 + c) * ihw : gp + c * n->nt;                 \
                }                                                                                       \
                if (nc == 8) ntx_pass_##SUF(n, gq + n->mg, wq + n->mg, cm, dst, 8);                     \
                else if (nc == 4) ntx_pass_##SUF(n, gq + n->mg, wq + n->mg, cm, dst, 4);                \
                else ntx_pass_##SUF(n, gq + n->mg, wq + n->mg, cm, dst, 1);                             \
                if (!exact)                                                                             \
                    for (int64_t c = 0; c < nc; c++) copy_row(gx + (bg * s->cg + c0 + c) * ihw, dst[c], ihw * (int64_t)sizeof(T)); \
            }                                                                                           \
        }                                                                                               \
        free(wq);                                                                                       \
    }                                                                                                   \
    free(cm);                                                                                           \
    return fail ? INV_ENOMEM : 0;                                                                       \
}                                                                                                       \
                                                                                                        \
/* gw[k0 + j] = sum_c gy[c] * x[c] at off[k0 + j], for NK taps. The wrapped lanes are cleared once,     \
 * after the sum: there the reference adds gy * 0 over the channels, which zs carries (0, or NaN        \
 * where gy is not finite). */                                                                          \
static inline __attribute__((always_inline)) void ncx_pass_##SUF(const nat_t *n, int64_t cg, const T *xs, const T *gs, const VI *cm, T *const *dst, int64_t k0, const int NK) { \
    for (int64_t q0 = 0; q0 < n->nq; q0 += VL_##SUF) {                                                  \
        V acc[9] = {0}, zs = {0};                                                                       \
        for (int64_t c = 0; c < cg; c++) {                                                              \
            V gv = *(const V *)(gs + c * n->nq + q0);                                                   \
            const T *xc = xs + c * n->lx + q0;                                                          \
            zs += gv * (V){0};                                                                          \
            for (int j = 0; j < NK; j++) acc[j] += gv * *(const V *)(xc + n->off[k0 + j]);              \
        }                                                                                               \
        for (int j = 0; j < NK; j++) {                                                                  \
            VI m = *(const VI *)((const T *)cm + n->mcol[k0 + j] * n->nq + q0);                         \
            *(V *)(dst[j] + q0) = (V)(((VI)acc[j] & m) | ((VI)zs & ~m));                                \
        }                                                                                               \
    }                                                                                                   \
}                                                                                                       \
                                                                                                        \
static int nat_cx_##SUF(const plan_t *s, const nat_t *n, const T *gy, const T *x, T *gw, int nthreads) { \
    const int64_t hw = s->Ho * s->W, exact = hw == n->nq;                                               \
    VI *cm = column_masks_##SUF(s, n->nq, 1);                                                           \
    if (!cm) return INV_ENOMEM;                                                                         \
    int fail = 0;                                                                                       \
    _Pragma("omp parallel num_threads(nthreads)")                                                       \
    {                                                                                                   \
        T *xs = scratch(s->cg, n->lx, exact ? 0 : (s->cg + 9) * n->nq, sizeof(T));                      \
        T *gq = xs ? xs + s->cg * n->lx : NULL, *ge = gq ? gq + s->cg * n->nq : NULL;                   \
        if (!xs) { _Pragma("omp atomic write") fail = 1; }                                              \
        _Pragma("omp for schedule(static)")                                                             \
        for (int64_t bg = 0; bg < s->B * s->G; bg++) {                                                  \
            if (!xs) continue;                                                                          \
            const T *gs = gy + bg * s->cg * hw;                                                         \
            for (int64_t c = 0; c < s->cg; c++) {                                                       \
                copy_row(xs + c * n->lx + n->mlo, x + (bg * s->cg + c) * s->H * s->W, s->H * s->W * (int64_t)sizeof(T)); \
                if (!exact) copy_row(gq + c * n->nq, gs + c * hw, hw * (int64_t)sizeof(T));             \
            }                                                                                           \
            if (!exact) gs = gq;                                                                        \
            for (int64_t k0 = 0, nk; k0 < s->kk; k0 += nk) {                                            \
                nk = s->kk - k0 >= 9 ? 9 : s->kk - k0 >= 4 ? 4 : 1;                                     \
                T *dst[9];                                                                              \
                for (int64_t j = 0; j < nk; j++) dst[j] = exact ? gw + (bg * s->kk + k0 + j) * hw : ge + j * n->nq; \
                if (nk == 9) ncx_pass_##SUF(n, s->cg, xs + n->mlo, gs, cm, dst, k0, 9);                 \
                else if (nk == 4) ncx_pass_##SUF(n, s->cg, xs + n->mlo, gs, cm, dst, k0, 4);            \
                else ncx_pass_##SUF(n, s->cg, xs + n->mlo, gs, cm, dst, k0, 1);                         \
                if (!exact)                                                                             \
                    for (int64_t j = 0; j < nk; j++) copy_row(gw + (bg * s->kk + k0 + j) * hw, dst[j], hw * (int64_t)sizeof(T)); \
            }                                                                                           \
        }                                                                                               \
        free(xs);                                                                                       \
    }                                                                                                   \
    free(cm);                                                                                           \
    return fail ? INV_ENOMEM : 0;                                                                       \
}                                                                                                       \
                                                                                                        \
/* ye[c] = sum_k wq[k] * xp[c] shifted by off[k], for NC channels: each load of a kernel map serves   \
 * all NC of them (NC is a constant at every call, so the channel loops unroll into registers). */       \
static inline __attribute__((always_inline)) void fwd_pass_##SUF(const plan_t *s, const T *xp, const T *wq, T *ye, const int NC) { \
    for (int64_t q0 = 0; q0 < s->nq; q0 += VL_##SUF) {                                                   \
        V acc[8] = {0};                                                                                  \
        for (int64_t k = 0; k < s->kk; k++) {                                                            \
            V wv = *(const V *)(wq + k * s->nq + q0);                                                    \
            const T *xs = xp + s->off[k] + q0;                                                           \
            for (int c = 0; c < NC; c++) acc[c] += wv * *(const V *)(xs + c * s->lx);                    \
        }                                                                                                \
        for (int c = 0; c < NC; c++) *(V *)(ye + c * s->nq + q0) = acc[c];                               \
    }                                                                                                    \
}                                                                                                        \
                                                                                                         \
int inv_fwd_##SUF(const T *x, const T *w, T *y, const int64_t *geo, int nthreads) {                     \
    plan_t s;                                                                                            \
    if (make_plan(geo, &s, VL_##SUF)) return INV_EGEOM;                                                  \
    if (s.W == s.Wo) { nat_t n; nat_plan(&s, &n, VL_##SUF); return nat_fwd_##SUF(&s, &n, x, w, y, nthreads); } \
    int fail = 0;                                                                                        \
    _Pragma("omp parallel num_threads(nthreads)")                                                        \
    {                                                                                                    \
        T *wq = scratch(s.kk + 8, s.nq, 8 * s.lx, sizeof(T));                                            \
        T *xp = wq ? wq + s.kk * s.nq : NULL, *ye = xp ? xp + 8 * s.lx : NULL;                           \
        if (!wq) { _Pragma("omp atomic write") fail = 1; }                                               \
        _Pragma("omp for schedule(static)")                                                              \
        for (int64_t bg = 0; bg < s.B * s.G; bg++) {                                                     \
            if (!wq) continue;                                                                           \
            const T *wb = w + bg * s.kk * s.Ho * s.Wo;                                                   \
            for (int64_t k = 0; k < s.kk; k++) to_pitch_##SUF(&s, wb + k * s.Ho * s.Wo, wq + k * s.nq); \
            for (int64_t c0 = 0, nc; c0 < s.cg; c0 += nc) {                                              \
                /* channels in blocks of 8, then 4, then 1 */                                            \
                nc = s.cg - c0 >= 8 ? 8 : s.cg - c0 >= 4 ? 4 : 1;                                         \
                for (int64_t c = 0; c < nc; c++) pad_in_##SUF(&s, x + (bg * s.cg + c0 + c) * s.H * s.W, xp + c * s.lx); \
                if (nc == 8) fwd_pass_##SUF(&s, xp, wq, ye, 8);                                          \
                else if (nc == 4) fwd_pass_##SUF(&s, xp, wq, ye, 4);                                     \
                else fwd_pass_##SUF(&s, xp, wq, ye, 1);                                                  \
                for (int64_t c = 0; c < nc; c++) from_pitch_##SUF(&s, ye + c * s.nq, y + (bg * s.cg + c0 + c) * s.Ho * s.Wo); \
            }                                                                                            \
        }                                                                                                \
        free(wq);                                                                                        \
    }                                                                                                    \
    return fail ? INV_ENOMEM : 0;                                                                        \
}                                                                                                        \
                                                                                                         \
/* gp[c] at padded-input positions t0 + i = sum_k wq[k] * gq[c], both read at t - off[k]. */            \
static inline __attribute__((always_inline)) void tx_pass_##SUF(const plan_t *s, const T *gq, const T *wq, T *gp, const int NC) { \
    for (int64_t i0 = 0; i0 < s->nt; i0 += VL_##SUF) {                                                   \
        V acc[8] = {0};                                                                                  \
        for (int64_t k = 0; k < s->kk; k++) {                                                            \
            int64_t o = s->lead + s->t0 + i0 - s->off[k];                                                \
            V wv = *(const V *)(wq + k * s->n + o);                                                      \
            for (int c = 0; c < NC; c++) acc[c] += wv * *(const V *)(gq + c * s->n + o);                 \
        }                                                                                                \
        for (int c = 0; c < NC; c++) *(V *)(gp + c * s->nt + i0) = acc[c];                               \
    }                                                                                                    \
}                                                                                                        \
                                                                                                         \
/* gx = tx(gy, w): each padded-input position gathers from the K*K outputs that read it. */            \
int inv_tx_##SUF(const T *gy, const T *w, T *gx, const int64_t *geo, int nthreads) {                    \
    plan_t s;                                                                                            \
    if (make_plan(geo, &s, VL_##SUF)) return INV_EGEOM;                                                  \
    if (s.W == s.Wo) { nat_t n; nat_plan(&s, &n, VL_##SUF); return nat_tx_##SUF(&s, &n, gy, w, gx, nthreads); } \
    /* input rows and columns inside the padded frame; the rest get no gradient */                      \
    int64_t r1 = s.H + s.pt < s.hp ? s.H : s.hp - s.pt, c1 = s.W + s.pl < s.p ? s.W : s.p - s.pl;        \
    if (r1 < 0) r1 = 0;                                                                                  \
    if (c1 < 0) c1 = 0;                                                                                  \
    int fail = 0;                                                                                        \
    _Pragma("omp parallel num_threads(nthreads)")                                                        \
    {                                                                                                    \
        T *wq = scratch(s.kk + 8, s.n, 8 * s.nt, sizeof(T));                                             \
        T *gq = wq ? wq + s.kk * s.n : NULL, *gp = gq ? gq + 8 * s.n : NULL;                             \
        if (!wq) { _Pragma("omp atomic write") fail = 1; }                                               \
        _Pragma("omp for schedule(static)")                                                              \
        for (int64_t bg = 0; bg < s.B * s.G; bg++) {                                                     \
            if (!wq) continue;                                                                           \
            const T *wb = w + bg * s.kk * s.Ho * s.Wo;                                                   \
            for (int64_t k = 0; k < s.kk; k++) to_pitch_##SUF(&s, wb + k * s.Ho * s.Wo, wq + k * s.n + s.lead); \
            for (int64_t c0 = 0, nc; c0 < s.cg; c0 += nc) {                                              \
                nc = s.cg - c0 >= 8 ? 8 : s.cg - c0 >= 4 ? 4 : 1;                                         \
                for (int64_t c = 0; c < nc; c++) to_pitch_##SUF(&s, gy + (bg * s.cg + c0 + c) * s.Ho * s.Wo, gq + c * s.n + s.lead); \
                if (nc == 8) tx_pass_##SUF(&s, gq, wq, gp, 8);                                           \
                else if (nc == 4) tx_pass_##SUF(&s, gq, wq, gp, 4);                                      \
                else tx_pass_##SUF(&s, gq, wq, gp, 1);                                                   \
                for (int64_t c = 0; c < nc; c++) {                                                       \
                    T *dst = gx + (bg * s.cg + c0 + c) * s.H * s.W;                                      \
                    const T *src = gp + c * s.nt;                                                        \
                    for (int64_t r = 0; r < r1; r++) {                                                   \
                        copy_row(dst + r * s.W, src + r * s.p, c1 * (int64_t)sizeof(T));                 \
                        for (int64_t col = c1; col < s.W; col++) dst[r * s.W + col] = 0;                 \
                    }                                                                                    \
                    for (int64_t i = r1 * s.W; i < s.H * s.W; i++) dst[i] = 0;                           \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        free(wq);                                                                                        \
    }                                                                                                    \
    return fail ? INV_ENOMEM : 0;                                                                        \
}                                                                                                        \
                                                                                                         \
/* ge[j] = sum_c gq[c] * xp[c] shifted by off[k0 + j], for NK taps: each load of gy serves all NK. */  \
static inline __attribute__((always_inline)) void cx_pass_##SUF(const plan_t *s, const T *xp, const T *gq, T *ge, int64_t k0, const int NK) { \
    for (int64_t q0 = 0; q0 < s->nq; q0 += VL_##SUF) {                                                   \
        V acc[9] = {0};                                                                                  \
        for (int64_t c = 0; c < s->cg; c++) {                                                            \
            V gv = *(const V *)(gq + c * s->nq + q0);                                                    \
            const T *xs = xp + c * s->lx + q0;                                                           \
            for (int j = 0; j < NK; j++) acc[j] += gv * *(const V *)(xs + s->off[k0 + j]);               \
        }                                                                                                \
        for (int j = 0; j < NK; j++) *(V *)(ge + j * s->nq + q0) = acc[j];                               \
    }                                                                                                    \
}                                                                                                        \
                                                                                                         \
/* gw = cx(gy, x): per tap, the sum over the group's channels of gy times the shifted input. */        \
int inv_cx_##SUF(const T *gy, const T *x, T *gw, const int64_t *geo, int nthreads) {                    \
    plan_t s;                                                                                            \
    if (make_plan(geo, &s, VL_##SUF)) return INV_EGEOM;                                                  \
    if (s.W == s.Wo) { nat_t n; nat_plan(&s, &n, VL_##SUF); return nat_cx_##SUF(&s, &n, gy, x, gw, nthreads); } \
    int fail = 0;                                                                                        \
    _Pragma("omp parallel num_threads(nthreads)")                                                        \
    {                                                                                                    \
        T *xp = scratch(s.cg, s.lx + s.nq, 9 * s.nq, sizeof(T));                                         \
        T *gq = xp ? xp + s.cg * s.lx : NULL, *ge = gq ? gq + s.cg * s.nq : NULL;                        \
        if (!xp) { _Pragma("omp atomic write") fail = 1; }                                               \
        _Pragma("omp for schedule(static)")                                                              \
        for (int64_t bg = 0; bg < s.B * s.G; bg++) {                                                     \
            if (!xp) continue;                                                                           \
            for (int64_t c = 0; c < s.cg; c++) {                                                         \
                pad_in_##SUF(&s, x + (bg * s.cg + c) * s.H * s.W, xp + c * s.lx);                        \
                to_pitch_##SUF(&s, gy + (bg * s.cg + c) * s.Ho * s.Wo, gq + c * s.nq);                   \
            }                                                                                            \
            for (int64_t k0 = 0, nk; k0 < s.kk; k0 += nk) {                                              \
                /* taps in blocks of 9 (all of K = 3), then 4, then 1 */                                 \
                nk = s.kk - k0 >= 9 ? 9 : s.kk - k0 >= 4 ? 4 : 1;                                         \
                if (nk == 9) cx_pass_##SUF(&s, xp, gq, ge, k0, 9);                                       \
                else if (nk == 4) cx_pass_##SUF(&s, xp, gq, ge, k0, 4);                                  \
                else cx_pass_##SUF(&s, xp, gq, ge, k0, 1);                                               \
                for (int64_t j = 0; j < nk; j++) from_pitch_##SUF(&s, ge + j * s.nq, gw + (bg * s.kk + k0 + j) * s.Ho * s.Wo); \
            }                                                                                            \
        }                                                                                                \
        free(xp);                                                                                        \
    }                                                                                                    \
    return fail ? INV_ENOMEM : 0;                                                                        \
}

DEFINE_LOOPS(float, f32, vec_f32, veci_f32, int32_t)
DEFINE_LOOPS(double, f64, vec_f64, veci_f64, int64_t)

/* ---- bfloat16: bf16 loads and stores, float32 arithmetic ----
 * A chunk of whole batch items (all their (batch, group) blocks, about BF16_CHUNK floats) is
 * widened to float32 in a thread's buffer, run through the float32 loops as a problem of its own
 * (one thread) and narrowed back with round-to-nearest-even. The big tensors move at half the
 * bytes, and every output is the float32 result rounded once, the same bits as the float32 loops
 * on the widened operands. Chunks of several items keep the per-call cost of the float32 loops
 * (their plan, masks and scratch) small beside the arithmetic at small maps. */
#define BF16_CHUNK (1 << 16)

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  /* NaN stays a quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static void widen(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}

static void narrow(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}

typedef int (*f32_loop)(const float *, const float *, float *, const int64_t *, int);

/* na, nb, nout: elements of one (batch, group) block of each operand and of the output (each
 * tensor's blocks are contiguous and in (batch, group) order). */
static int bf16_blocks(f32_loop loop, const uint16_t *a, const uint16_t *b, uint16_t *out, const int64_t *geo,
                       int nthreads, int64_t na, int64_t nb, int64_t nout) {
    plan_t s;
    if (make_plan(geo, &s, VBYTES / sizeof(float))) return INV_EGEOM;
    const int64_t ia = s.G * na, ib = s.G * nb, io = s.G * nout;  /* one batch item */
    const int64_t per = ia + ib + io > 0 ? ia + ib + io : 1;
    const int64_t items = BF16_CHUNK / per > 1 ? BF16_CHUNK / per : 1, chunks = (s.B + items - 1) / items;
    int rc = 0;
    _Pragma("omp parallel num_threads(nthreads)")
    {
        float *fa = scratch(items, ia + ib, items * io, sizeof(float));
        float *fb = fa ? fa + items * ia : NULL, *fo = fb ? fb + items * ib : NULL;
        if (!fa) { _Pragma("omp atomic write") rc = INV_ENOMEM; }
        _Pragma("omp for schedule(static)")
        for (int64_t c = 0; c < chunks; c++) {
            if (!fa) continue;
            const int64_t b0 = c * items, n = s.B - b0 < items ? s.B - b0 : items;
            const int64_t part[11] = {n, s.C, s.G, s.H, s.W, s.Ho, s.Wo, s.K, s.d, s.pt, s.pl};
            widen(a + b0 * ia, fa, n * ia);
            widen(b + b0 * ib, fb, n * ib);
            int e = loop(fa, fb, fo, part, 1);
            if (e) { _Pragma("omp atomic write") rc = e; continue; }
            narrow(fo, out + b0 * io, n * io);
        }
        free(fa);
    }
    return rc;
}

int inv_fwd_bf16(const uint16_t *x, const uint16_t *w, uint16_t *y, const int64_t *geo, int nthreads) {
    int64_t cg = geo[2] > 0 ? geo[1] / geo[2] : 0, kk = geo[7] * geo[7];
    return bf16_blocks(inv_fwd_f32, x, w, y, geo, nthreads, cg * geo[3] * geo[4], kk * geo[5] * geo[6], cg * geo[5] * geo[6]);
}

int inv_tx_bf16(const uint16_t *gy, const uint16_t *w, uint16_t *gx, const int64_t *geo, int nthreads) {
    int64_t cg = geo[2] > 0 ? geo[1] / geo[2] : 0, kk = geo[7] * geo[7];
    return bf16_blocks(inv_tx_f32, gy, w, gx, geo, nthreads, cg * geo[5] * geo[6], kk * geo[5] * geo[6], cg * geo[3] * geo[4]);
}

int inv_cx_bf16(const uint16_t *gy, const uint16_t *x, uint16_t *gw, const int64_t *geo, int nthreads) {
    int64_t cg = geo[2] > 0 ? geo[1] / geo[2] : 0, kk = geo[7] * geo[7];
    return bf16_blocks(inv_cx_f32, gy, x, gw, geo, nthreads, cg * geo[5] * geo[6], cg * geo[3] * geo[4], kk * geo[5] * geo[6]);
}
