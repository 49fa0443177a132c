/* Dependency links between the supervisor's units: name lookup, REQUIRES and
 * AFTER edges in both directions, closures, and the verdict "may this unit
 * start yet". The graph is a DAG when the model passed validation (C4), but
 * nothing here loops forever on a cycle: walks mark what they visited. */
#ifndef ORCH_DEPGRAPH_H
#define ORCH_DEPGRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/supervisor_impl.h"

/* Rebuilds the name index and every unit's edges from the units' current
 * specs. Call after any change to sv->units or to a unit's spec. */
void dg_relink(orch_supervisor *sv);

/* The unit called name, or NULL. */
unit *dg_find(const orch_supervisor *sv, const char *name);

/* A fresh mark value: units with u->mark == it were visited by this walk. */
unsigned dg_new_mark(orch_supervisor *sv);

/* Marks each seed and every unit that REQUIRES a marked unit, transitively
 * (the set a stop must take down). */
void dg_mark_requirers(orch_supervisor *sv, unit *const *seeds, size_t n, unsigned mark);

/* In a model: sets selected[i] for every service that a selected service
 * REQUIRES, transitively. */
void dg_model_requires_closure(const orch_model *m, bool *selected);

typedef enum dg_verdict { DG_START, DG_WAIT, DG_FAILED } dg_verdict;

/* May u start now? DG_FAILED sets *why (malloc'ed) to the failed REQUIRES;
 * DG_WAIT sets *blocker to the first unsatisfied REQUIRES (NULL when only
 * AFTER ordering holds u back). */
dg_verdict dg_check_deps(const unit *u, char **why, const unit **blocker);

/* Some unit that depends on u (REQUIRES or AFTER) is being stopped and has
 * not finished: u must wait before stopping. */
bool dg_dependents_still_stopping(const unit *u);

#endif
