/*
 * mf4_conv.c - applying CC conversions (identity, linear, rational, algebraic, tables with
 * and without interpolation, range->value, value->text, range->text with nested conversions,
 * text->value, text->text) and the algebraic formula evaluator.
 *
 * Formulas are compiled once (when the file is opened) by a recursive-descent parser into a
 * small stack program (RPN); evaluating is then a loop without allocation. The parser limits
 * nesting to 64 levels and a program to 4096 operations, and the stack depth it computes is
 * checked before evaluation, so a hostile formula cannot overflow anything.
 */
#include "mf4.h"
#include "mf4_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ formula compiler */
enum op {
    OP_NUM,
    OP_X,
    OP_NEG,
    OP_NOT,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_POW,
    OP_LT,
    OP_GT,
    OP_LE,
    OP_GE,
    OP_EQ,
    OP_NE,
    OP_AND,
    OP_OR,
    OP_F1, /* one-argument function (fn index in arg) */
    OP_F2, /* two-argument function */
};

typedef struct insn {
    unsigned char op;
    unsigned char fn;
    double num;
} insn;

struct mf4__prog {
    insn *code;
    size_t n;
    size_t max_stack;
};

typedef double (*fn1)(double);
typedef double (*fn2)(double, double);

static const struct {
    const char *name;
    fn1 f;
} funcs1[] = {
    {"abs", fabs}, {"acos", acos},   {"asin", asin},   {"atan", atan},   {"ceil", ceil},
    {"cos", cos},  {"cosh", cosh},   {"exp", exp},     {"floor", floor}, {"ln", log},
    {"log", log},  {"log10", log10}, {"sin", sin},     {"sinh", sinh},   {"sqrt", sqrt},
    {"tan", tan},  {"tanh", tanh},   {"round", round}, {"trunc", trunc},
};

static const struct {
    const char *name;
    fn2 f;
} funcs2[] = {
    {"atan2", atan2}, {"pow", pow}, {"fmod", fmod}, {"min", fmin}, {"max", fmax},
};

typedef struct parser {
    const char *s;
    size_t pos;
    insn *code;
    size_t n, cap;
    long depth, max_depth; /* stack depth simulation */
    int nest;
    mf4_error *err;
    int failed;
} parser;

#define MAX_CODE 4096
#define MAX_NEST 64

static int p_fail(parser *p, const char *what)
{
    if (!p->failed)
        mf4__err(p->err, MF4_E_CONV, 0, "formula \"%.80s\": %s at character %zu", p->s, what,
                 p->pos + 1);
    p->failed = 1;
    return -1;
}

static int emit(parser *p, unsigned char op, unsigned char fn, double num)
{
    if (p->failed)
        return -1;
    if (p->n >= MAX_CODE)
        return p_fail(p, "formula too long");
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        insn *c = realloc(p->code, nc * sizeof *c);
        if (!c)
            return p_fail(p, "out of memory");
        p->code = c;
        p->cap = nc;
    }
    p->code[p->n++] = (insn){op, fn, num};
    if (op == OP_NUM || op == OP_X)
        p->depth++;
    else if (op == OP_NEG || op == OP_NOT || op == OP_F1)
        ;
    else
        p->depth--;
    if (p->depth > p->max_depth)
        p->max_depth = p->depth;
    return 0;
}

static void skip_ws(parser *p)
{
    while (p->s[p->pos] && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static int accept(parser *p, const char *tok)
{
    skip_ws(p);
    size_t l = strlen(tok);
    if (strncmp(p->s + p->pos, tok, l) == 0) {
        p->pos += l;
        return 1;
    }
    return 0;
}

static int parse_expr(parser *p);

/* The parenthesised arguments of function fn (its name is read): one for OP_F1, two for OP_F2. */
static int parse_call(parser *p, unsigned char op, unsigned char fn)
{
    if (!accept(p, "("))
        return p_fail(p, "expected '(' after function name");
    if (parse_expr(p))
        return -1;
    if (op == OP_F2) {
        if (!accept(p, ","))
            return p_fail(p, "expected ',' (function takes two arguments)");
        if (parse_expr(p))
            return -1;
    }
    if (!accept(p, ")"))
        return p_fail(p, "expected ')'");
    return emit(p, op, fn, 0);
}

static int parse_primary(parser *p)
{
    skip_ws(p);
    const char *c = p->s + p->pos;
    if (*c == '(') {
        p->pos++;
        if (parse_expr(p))
            return -1;
        if (!accept(p, ")"))
            return p_fail(p, "expected ')'");
        return 0;
    }
    if (isdigit((unsigned char)*c) || (*c == '.' && isdigit((unsigned char)c[1]))) {
        char *end;
        double v = strtod(c, &end);
        p->pos += (size_t)(end - c);
        return emit(p, OP_NUM, 0, v);
    }
    if (isalpha((unsigned char)*c) || *c == '_' || *c == '$') {
        size_t l = 0;
        while (isalnum((unsigned char)c[l]) || c[l] == '_' || c[l] == '$')
            l++;
        if ((l == 1 && (c[0] == 'X' || c[0] == 'x')) ||
            (l == 2 && (c[0] == 'X' || c[0] == 'x') && c[1] == '1') ||
            (l == 4 && strncmp(c, "$X1", 3) == 0)) {
            p->pos += l;
            return emit(p, OP_X, 0, 0);
        }
        if (l == 2 && strncmp(c, "pi", 2) == 0) {
            p->pos += l;
            return emit(p, OP_NUM, 0, M_PI);
        }
        char name[16];
        if (l >= sizeof name)
            return p_fail(p, "unknown name");
        memcpy(name, c, l);
        name[l] = 0;
        p->pos += l;
        for (size_t i = 0; i < sizeof funcs1 / sizeof funcs1[0]; i++)
            if (strcmp(name, funcs1[i].name) == 0)
                return parse_call(p, OP_F1, (unsigned char)i);
        for (size_t i = 0; i < sizeof funcs2 / sizeof funcs2[0]; i++)
            if (strcmp(name, funcs2[i].name) == 0)
                return parse_call(p, OP_F2, (unsigned char)i);
        p->pos -= l;
        return p_fail(p, "unknown name");
    }
    return p_fail(p, *c ? "unexpected character" : "unexpected end");
}

static int parse_unary(parser *p);

static int parse_pow(parser *p)
{
    if (parse_primary(p))
        return -1;
    if (accept(p, "^") || accept(p, "**")) {
        if (parse_unary(p)) /* right associative */
            return -1;
        return emit(p, OP_POW, 0, 0);
    }
    return 0;
}

static int parse_unary(parser *p)
{
    if (++p->nest > MAX_NEST)
        return p_fail(p, "nested too deeply");
    int rc;
    skip_ws(p);
    char c = p->s[p->pos];
    if (c == '-') {
        p->pos++;
        rc = parse_unary(p) ? -1 : emit(p, OP_NEG, 0, 0);
    } else if (c == '+') {
        p->pos++;
        rc = parse_unary(p);
    } else if (c == '!' && p->s[p->pos + 1] != '=') {
        p->pos++;
        rc = parse_unary(p) ? -1 : emit(p, OP_NOT, 0, 0);
    } else {
        rc = parse_pow(p);
    }
    p->nest--;
    return rc;
}

static int parse_mul(parser *p)
{
    if (parse_unary(p))
        return -1;
    for (;;) {
        skip_ws(p);
        char c = p->s[p->pos];
        unsigned char op;
        if (c == '*' && p->s[p->pos + 1] != '*')
            op = OP_MUL;
        else if (c == '/')
            op = OP_DIV;
        else if (c == '%')
            op = OP_MOD;
        else
            return 0;
        p->pos++;
        if (parse_unary(p) || emit(p, op, 0, 0))
            return -1;
    }
}

static int parse_add(parser *p)
{
    if (parse_mul(p))
        return -1;
    for (;;) {
        unsigned char op;
        if (accept(p, "+"))
            op = OP_ADD;
        else if (accept(p, "-"))
            op = OP_SUB;
        else
            return 0;
        if (parse_mul(p) || emit(p, op, 0, 0))
            return -1;
    }
}

static int parse_cmp(parser *p)
{
    if (parse_add(p))
        return -1;
    static const struct {
        const char *t;
        unsigned char op;
    } ops[] = {{"<=", OP_LE}, {">=", OP_GE}, {"==", OP_EQ},
               {"!=", OP_NE}, {"<", OP_LT},  {">", OP_GT}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (accept(p, ops[i].t))
            return parse_add(p) ? -1 : emit(p, ops[i].op, 0, 0);
    return 0;
}

static int parse_and(parser *p)
{
    if (parse_cmp(p))
        return -1;
    while (accept(p, "&&"))
        if (parse_cmp(p) || emit(p, OP_AND, 0, 0))
            return -1;
    return 0;
}

static int parse_expr(parser *p)
{
    if (++p->nest > MAX_NEST)
        return p_fail(p, "nested too deeply");
    int rc = parse_and(p);
    while (!rc && accept(p, "||"))
        rc = (parse_and(p) || emit(p, OP_OR, 0, 0)) ? -1 : 0;
    p->nest--;
    return rc;
}

static int compile(const char *s, mf4__prog **out, mf4_error *err)
{
    parser p = {.s = s, .err = err};
    *out = NULL;
    if (parse_expr(&p) == 0) {
        skip_ws(&p);
        if (p.s[p.pos])
            p_fail(&p, "unexpected text after the expression");
    }
    if (p.failed) {
        free(p.code);
        return MF4_E_CONV;
    }
    mf4__prog *g = malloc(sizeof *g);
    if (!g) {
        free(p.code);
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    }
    g->code = p.code;
    g->n = p.n;
    g->max_stack = (size_t)p.max_depth;
    *out = g;
    return MF4_OK;
}

static double run(const mf4__prog *g, double x, double *stack)
{
    size_t sp = 0;
    for (size_t i = 0; i < g->n; i++) {
        const insn *in = &g->code[i];
        double a, b;
        switch (in->op) {
        case OP_NUM:
            stack[sp++] = in->num;
            break;
        case OP_X:
            stack[sp++] = x;
            break;
        case OP_NEG:
            stack[sp - 1] = -stack[sp - 1];
            break;
        case OP_NOT:
            stack[sp - 1] = stack[sp - 1] == 0 ? 1 : 0;
            break;
        case OP_F1:
            stack[sp - 1] = funcs1[in->fn].f(stack[sp - 1]);
            break;
        default:
            b = stack[--sp];
            a = stack[sp - 1];
            switch (in->op) {
            case OP_ADD:
                a = a + b;
                break;
            case OP_SUB:
                a = a - b;
                break;
            case OP_MUL:
                a = a * b;
                break;
            case OP_DIV:
                a = a / b;
                break;
            case OP_MOD:
                a = fmod(a, b);
                break;
            case OP_POW:
                a = pow(a, b);
                break;
            case OP_LT:
                a = a < b;
                break;
            case OP_GT:
                a = a > b;
                break;
            case OP_LE:
                a = a <= b;
                break;
            case OP_GE:
                a = a >= b;
                break;
            case OP_EQ:
                a = a == b;
                break;
            case OP_NE:
                a = a != b;
                break;
            case OP_AND:
                a = (a != 0) && (b != 0);
                break;
            case OP_OR:
                a = (a != 0) || (b != 0);
                break;
            case OP_F2:
                a = funcs2[in->fn].f(a, b);
                break;
            }
            stack[sp - 1] = a;
        }
    }
    return sp ? stack[sp - 1] : NAN;
}

int mf4_formula_eval(const char *formula, double x, double *out, mf4_error *err)
{
    if (!formula || !out)
        return mf4__err(err, MF4_E_ARG, 0, "mf4_formula_eval: NULL argument");
    mf4__prog *g;
    int rc = compile(formula, &g, err);
    if (rc)
        return rc;
    double small[64];
    double *stack = g->max_stack <= 64 ? small : malloc(g->max_stack * sizeof(double));
    if (!stack) {
        free(g->code);
        free(g);
        return mf4__err(err, MF4_E_NOMEM, 0, "out of memory");
    }
    *out = run(g, x, stack);
    if (stack != small)
        free(stack);
    free(g->code);
    free(g);
    return MF4_OK;
}

int mf4__conv_compile(mf4__conv *c, mf4_error *err)
{
    return compile(c->pub.formula, &c->prog, err);
}

void mf4__conv_free(mf4__conv *c)
{
    if (!c)
        return;
    if (c->prog) {
        free(c->prog->code);
        free(c->prog);
    }
    free(c);
}

/* ------------------------------------------------------------------ applying */
static double eval_prog(const mf4__prog *g, double x)
{
    double small[64];
    if (g->max_stack <= 64)
        return run(g, x, small);
    double *st = malloc(g->max_stack * sizeof(double));
    if (!st)
        return NAN;
    double v = run(g, x, st);
    free(st);
    return v;
}

/* A reference entry i of a text-yielding conversion: text, nested conversion or NULL. */
static int apply_ref(const mf4_conversion *c, size_t i, double x, int raw_is_int, double *phys,
                     const char **text, int depth)
{
    if (i < c->n_refs && c->refs[i])
        return mf4__conv_num(c->refs[i], x, raw_is_int, phys, text, depth + 1);
    if (i < c->n_refs && c->texts[i]) {
        *text = c->texts[i];
        *phys = NAN;
        return MF4_OK;
    }
    /* NIL default: the value stays numeric (raw passes through) */
    *phys = x;
    return MF4_OK;
}

int mf4__conv_num(const mf4_conversion *c, double x, int raw_is_int, double *phys,
                  const char **text, int depth)
{
    *text = NULL;
    if (!c) {
        *phys = x;
        return MF4_OK;
    }
    if (depth > 16)
        return MF4_E_CONV;
    const double *p = c->params;
    size_t n;
    switch (c->type) {
    case MF4_CONV_IDENTITY:
        *phys = x;
        return MF4_OK;
    case MF4_CONV_LINEAR:
        *phys = p[1] * x + p[0];
        return MF4_OK;
    case MF4_CONV_RATIONAL:
        *phys = (p[0] * x * x + p[1] * x + p[2]) / (p[3] * x * x + p[4] * x + p[5]);
        return MF4_OK;
    case MF4_CONV_ALGEBRAIC: {
        const mf4__conv *ic = (const mf4__conv *)c;
        *phys = ic->prog ? eval_prog(ic->prog, x) : NAN;
        return MF4_OK;
    }
    case MF4_CONV_TAB_INTERP:
    case MF4_CONV_TAB: {
        n = c->n_params / 2;
        if (x <= p[0]) {
            *phys = p[1];
            return MF4_OK;
        }
        if (x >= p[2 * (n - 1)]) {
            *phys = p[2 * (n - 1) + 1];
            return MF4_OK;
        }
        size_t lo = 0, hi = n - 1; /* p[2lo] <= x < p[2hi] */
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (p[2 * mid] <= x)
                lo = mid;
            else
                hi = mid;
        }
        double k0 = p[2 * lo], v0 = p[2 * lo + 1], k1 = p[2 * hi], v1 = p[2 * hi + 1];
        if (x == k0)
            *phys = v0;
        else if (c->type == MF4_CONV_TAB_INTERP)
            *phys = v0 + (v1 - v0) * (x - k0) / (k1 - k0);
        else
            *phys = (x - k0) <= (k1 - x) ? v0 : v1;
        return MF4_OK;
    }
    case MF4_CONV_RANGE_VALUE:
        n = (c->n_params - 1) / 3;
        for (size_t i = 0; i < n; i++) {
            double lo = p[3 * i], hi = p[3 * i + 1];
            if (x >= lo && (raw_is_int ? x <= hi : x < hi)) {
                *phys = p[3 * i + 2];
                return MF4_OK;
            }
        }
        *phys = p[3 * n];
        return MF4_OK;
    case MF4_CONV_VALUE_TEXT:
        n = c->n_params;
        for (size_t i = 0; i < n; i++)
            if (x == p[i])
                return apply_ref(c, i, x, raw_is_int, phys, text, depth);
        return apply_ref(c, n, x, raw_is_int, phys, text, depth);
    case MF4_CONV_RANGE_TEXT:
        n = c->n_params / 2;
        for (size_t i = 0; i < n; i++) {
            double lo = p[2 * i], hi = p[2 * i + 1];
            if (x >= lo && (raw_is_int ? x <= hi : x < hi))
                return apply_ref(c, i, x, raw_is_int, phys, text, depth);
        }
        return apply_ref(c, n, x, raw_is_int, phys, text, depth);
    case MF4_CONV_BITFIELD_TEXT:
        /* each entry masks the value with params[i] and converts the masked value */
        for (size_t i = 0; i < c->n_params && i < c->n_refs; i++) {
            uint64_t mask;
            memcpy(&mask, &p[i], 8);
            double masked = (double)((uint64_t)x & mask);
            if (c->refs[i]) {
                const char *t = NULL;
                double v;
                if (mf4__conv_num(c->refs[i], masked, 1, &v, &t, depth + 1) == MF4_OK && t && *t) {
                    *text = t;
                    *phys = NAN;
                    return MF4_OK;
                }
            }
        }
        *phys = x;
        return MF4_OK;
    case MF4_CONV_TEXT_VALUE:
    case MF4_CONV_TEXT_TEXT:
        return MF4_E_CONV;
    }
    return MF4_E_CONV;
}

int mf4_conv_apply(const mf4_conversion *c, double x, bool raw_is_int, double *phys,
                   const char **text)
{
    double v;
    const char *t;
    if (!phys)
        phys = &v;
    if (!text)
        text = &t;
    return mf4__conv_num(c, x, raw_is_int, phys, text, 0);
}

int mf4_conv_apply_text(const mf4_conversion *c, const char *s, double *phys, const char **text)
{
    double v;
    const char *t;
    if (!phys)
        phys = &v;
    if (!text)
        text = &t;
    *text = NULL;
    *phys = NAN;
    if (!s)
        return MF4_E_ARG;
    if (!c) {
        *text = s;
        return MF4_OK;
    }
    if (c->type == MF4_CONV_TEXT_VALUE) {
        size_t n = c->n_refs;
        for (size_t i = 0; i < n; i++)
            if (c->texts[i] && strcmp(c->texts[i], s) == 0) {
                *phys = c->params[i];
                return MF4_OK;
            }
        *phys = c->params[n];
        return MF4_OK;
    }
    if (c->type == MF4_CONV_TEXT_TEXT) {
        size_t n = c->n_refs / 2;
        for (size_t i = 0; i < n; i++)
            if (c->texts[2 * i] && strcmp(c->texts[2 * i], s) == 0) {
                *text = c->texts[2 * i + 1] ? c->texts[2 * i + 1] : s;
                return MF4_OK;
            }
        *text = c->texts[2 * n] ? c->texts[2 * n] : s;
        return MF4_OK;
    }
    char *end;
    double x = strtod(s, &end);
    if (end == s)
        return MF4_E_CONV;
    return mf4__conv_num(c, x, 0, phys, text, 0);
}
