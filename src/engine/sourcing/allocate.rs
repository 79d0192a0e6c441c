//! The allocation search: pure, over capacities computed under the stock locks.
//!
//! Candidates arrive in rank order (0 is the best). Each order line needs units of
//! one or more component pools (a plain SKU is one pool, a kit several, all taken at
//! the same location); pools may be shared between lines. The objective, stated in
//! docs/ENGINE.md ("Sourcing"):
//!
//! - an allocation is determined by a set S of candidates: lines are filled in
//!   request order, each from S's candidates in rank order, each taking as much as
//!   the candidate's remaining pool units allow;
//! - S is feasible when every line is filled, `|S| <= max_locations`, and every
//!   member of S receives units (an idle member adds nothing);
//! - the chosen S minimises, lexicographically, `|S|` (if `minimise_locations`),
//!   then the ascending list of its ranks (a proper prefix is smaller).
//!
//! The exact search visits sets in that order and stops at the first feasible one.
//! A set's fill depends only on its members, and a member's share only on the
//! members ranked before it, so every prefix of a feasible set is a valid node and
//! the search can extend sets one candidate at a time.

/// Demand, components and capacities of one search, candidates in rank order.
pub(super) struct Problem<'a> {
    /// Units wanted per line.
    pub demands: &'a [u32],
    /// Per line: (pool, units of the pool per unit of the line).
    pub components: &'a [Vec<(usize, u32)>],
    /// `capacity[candidate * pools + pool]`: units of the pool the candidate may give.
    pub capacity: &'a [u64],
    /// `rooms[candidate * lines + line]`: the line's capacity at the candidate with
    /// all its pool units (see [`Problem::rooms`]).
    pub rooms: &'a [u64],
    pub pools: usize,
    pub candidates: usize,
    /// Candidates `0..ordered` are in rank order and rank before all the others,
    /// which follow in no particular order (a caller ranks only a prefix, since the
    /// search rarely looks far). Reaching past the prefix answers `Unordered`.
    pub ordered: usize,
    pub max_locations: usize,
    pub minimise_locations: bool,
    /// Most sets the exact search evaluates before falling back to greedy.
    pub node_budget: u32,
}

/// Units of one line held at one candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Piece {
    pub line: usize,
    pub candidate: usize,
    pub quantity: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Search {
    /// The allocation, and whether it is the proven optimum (false: greedy, after
    /// the node budget ran out).
    Found { pieces: Vec<Piece>, exact: bool },
    /// No feasible set; `exhaustive` is false when the budget ran out first and the
    /// greedy set did not cover either.
    NotFound { exhaustive: bool },
    /// The answer depends on candidates past the ranked prefix: rank them all and
    /// solve again.
    Unordered,
}

/// How a set fills the lines.
struct Fill {
    pieces: Vec<Piece>,
    /// Units still wanted per line.
    residual: Vec<u64>,
    /// Whether every member received units.
    all_used: bool,
}

impl Problem<'_> {
    /// Whole units of `line` a candidate can give out of `pools` (its remaining units).
    fn line_room(&self, line: usize, pools: &[u64]) -> u64 {
        self.components[line].iter().map(|&(pool, per_unit)| whole_units(pools[pool], per_unit)).min().unwrap_or(0)
    }

    /// The line's capacity at a candidate with all its pool units (an upper bound).
    pub fn static_room(&self, candidate: usize, line: usize) -> u64 {
        self.rooms[candidate * self.demands.len() + line]
    }

    /// The `rooms` table for capacities and components (the engine builds it while
    /// ranking; tests build it here).
    #[cfg(test)]
    pub fn rooms(components: &[Vec<(usize, u32)>], capacity: &[u64], pools: usize) -> Vec<u64> {
        let mut rooms = Vec::with_capacity(capacity.len() / pools.max(1) * components.len());
        for row in capacity.chunks(pools.max(1)) {
            for parts in components {
                rooms.push(parts.iter().map(|&(pool, per_unit)| whole_units(row[pool], per_unit)).min().unwrap_or(0));
            }
        }
        rooms
    }

    /// Fills the lines from `set` (ascending ranks), as the objective defines.
    fn fill(&self, set: &[usize]) -> Fill {
        let mut remaining: Vec<u64> = Vec::with_capacity(set.len() * self.pools);
        for &candidate in set {
            remaining.extend_from_slice(&self.capacity[candidate * self.pools..(candidate + 1) * self.pools]);
        }
        let mut used = vec![false; set.len()];
        let mut pieces = Vec::new();
        let mut residual = Vec::with_capacity(self.demands.len());
        for (line, &demand) in self.demands.iter().enumerate() {
            let mut wanted = u64::from(demand);
            for (member, &candidate) in set.iter().enumerate() {
                if wanted == 0 {
                    break;
                }
                let pools = &mut remaining[member * self.pools..(member + 1) * self.pools];
                let take = wanted.min(self.line_room(line, pools));
                if take == 0 {
                    continue;
                }
                for &(pool, per_unit) in &self.components[line] {
                    pools[pool] -= take * u64::from(per_unit);
                }
                used[member] = true;
                wanted -= take;
                let quantity = u32::try_from(take).expect("take <= demand, a u32");
                pieces.push(Piece { line, candidate, quantity });
            }
            residual.push(wanted);
        }
        Fill { pieces, residual, all_used: used.iter().all(|u| *u) }
    }

    /// Whether every candidate together fills every line (ignoring `max_locations`).
    pub fn all_candidates_cover(&self) -> bool {
        let all: Vec<usize> = (0..self.candidates).collect();
        self.fill(&all).residual.iter().all(|r| *r == 0)
    }

    /// Runs the exact search, or the greedy one once the node budget is spent.
    pub fn solve(&self) -> Search {
        assert!(self.max_locations >= 1, "a profile allows at least one location");
        assert_eq!(self.capacity.len(), self.candidates * self.pools);
        assert_eq!(self.rooms.len(), self.candidates * self.demands.len());
        let suffix_max = self.suffix_max();
        let mut search = Dfs { problem: self, suffix_max: &suffix_max, nodes: 0, set: Vec::new() };
        let outcome = if self.minimise_locations {
            let mut found = Ok(None);
            for size in 1..=self.max_locations.min(self.candidates) {
                found = search.first(size);
                if !matches!(found, Ok(None)) {
                    break;
                }
            }
            found
        } else {
            search.first(self.max_locations.min(self.candidates))
        };
        let fully_ordered = self.ordered >= self.candidates;
        match outcome {
            Ok(Some(pieces)) => Search::Found { pieces, exact: true },
            // A refusal's details (and the greedy set) need the whole order.
            Ok(None) | Err(Stop::BudgetSpent) | Err(Stop::Unordered) if !fully_ordered => Search::Unordered,
            Ok(None) => Search::NotFound { exhaustive: true },
            Err(Stop::BudgetSpent) => match self.greedy() {
                Some(pieces) => Search::Found { pieces, exact: false },
                None => Search::NotFound { exhaustive: false },
            },
            Err(Stop::Unordered) => unreachable!("every candidate is ordered"),
        }
    }

    /// `suffix_max[i * lines + line]`: the largest static room of the line among
    /// candidates `i..`, for `i` up to `ordered` (the search stops there); one row
    /// past the last candidate holds zeros.
    fn suffix_max(&self) -> Vec<u64> {
        let lines = self.demands.len();
        let ordered = self.ordered.min(self.candidates);
        let mut table = vec![0u64; (ordered + 1) * lines];
        for candidate in ordered..self.candidates {
            for line in 0..lines {
                let best = &mut table[ordered * lines + line];
                *best = (*best).max(self.static_room(candidate, line));
            }
        }
        for candidate in (0..ordered).rev() {
            for line in 0..lines {
                let next = table[(candidate + 1) * lines + line];
                table[candidate * lines + line] = next.max(self.static_room(candidate, line));
            }
        }
        table
    }

    /// Best-first without backtracking: with `minimise_locations`, repeatedly the
    /// candidate covering the most still-wanted units (ties: better rank); otherwise
    /// candidates in rank order. Each kept only if it receives units.
    fn greedy(&self) -> Option<Vec<Piece>> {
        let mut set: Vec<usize> = Vec::new();
        let mut fill = self.fill(&set);
        let mut skipped = vec![false; self.candidates];
        while set.len() < self.max_locations && fill.residual.iter().any(|r| *r > 0) {
            let next = if self.minimise_locations {
                (0..self.candidates)
                    .filter(|c| !set.contains(c) && !skipped[*c])
                    .map(|c| {
                        let gain: u64 =
                            (0..self.demands.len()).map(|l| fill.residual[l].min(self.static_room(c, l))).sum();
                        (gain, std::cmp::Reverse(c))
                    })
                    .max()
                    .filter(|(gain, _)| *gain > 0)
                    .map(|(_, std::cmp::Reverse(c))| c)
            } else {
                (set.last().map_or(0, |last| last + 1)..self.candidates).find(|c| !skipped[*c])
            };
            let candidate = next?;
            let mut trial = set.clone();
            trial.push(candidate);
            trial.sort_unstable();
            let trial_fill = self.fill(&trial);
            if trial_fill.all_used {
                set = trial;
                fill = trial_fill;
            } else {
                skipped[candidate] = true;
            }
        }
        fill.residual.iter().all(|r| *r == 0).then_some(fill.pieces)
    }
}

/// Whole line units in `units` of a component needed `per_unit` at a time (a plain
/// SKU needs 1, the common case, which skips a 64-bit division).
pub(super) fn whole_units(units: u64, per_unit: u32) -> u64 {
    if per_unit == 1 {
        units
    } else {
        units / u64::from(per_unit)
    }
}

/// Why the exact search stopped without an answer.
enum Stop {
    BudgetSpent,
    Unordered,
}

/// Depth-first search over sets in ascending rank order.
struct Dfs<'p> {
    problem: &'p Problem<'p>,
    suffix_max: &'p [u64],
    nodes: u32,
    set: Vec<usize>,
}

impl Dfs<'_> {
    /// The first feasible set of at most `size` members in pre-order (with
    /// `minimise_locations`, the caller asks sizes 1, 2, …, and only a full-size
    /// set is accepted, which is then also the first of that size).
    fn first(&mut self, size: usize) -> Result<Option<Vec<Piece>>, Stop> {
        self.set.clear();
        let empty = self.problem.fill(&[]);
        self.extend(&empty.residual, size)
    }

    fn extend(&mut self, residual: &[u64], size: usize) -> Result<Option<Vec<Piece>>, Stop> {
        let problem = self.problem;
        let lines = problem.demands.len();
        let slots = (size - self.set.len()) as u64;
        let start = self.set.last().map_or(0, |last| last + 1);
        for candidate in start..problem.candidates {
            // Bound: every wanted unit must fit in the slots left, each giving at most
            // the best static room among the candidates from here on. Later
            // candidates have smaller suffix maxima, so once it fails it always will.
            let bound = &self.suffix_max[candidate * lines..(candidate + 1) * lines];
            if residual.iter().zip(bound).any(|(wanted, best)| *wanted > slots.saturating_mul(*best)) {
                break;
            }
            if candidate >= problem.ordered {
                return Err(Stop::Unordered);
            }
            self.nodes += 1;
            if self.nodes > problem.node_budget {
                return Err(Stop::BudgetSpent);
            }
            self.set.push(candidate);
            let fill = problem.fill(&self.set);
            if fill.all_used {
                let covered = fill.residual.iter().all(|r| *r == 0);
                let full = self.set.len() == size;
                if covered && (full || !problem.minimise_locations) {
                    return Ok(Some(fill.pieces));
                }
                if !covered && !full {
                    if let Some(found) = self.extend(&fill.residual, size)? {
                        return Ok(Some(found));
                    }
                }
            }
            self.set.pop();
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem<'a>(
        demands: &'a [u32],
        components: &'a [Vec<(usize, u32)>],
        capacity: &'a [u64],
        pools: usize,
    ) -> Problem<'a> {
        Problem {
            demands,
            components,
            capacity,
            // Leaked: a test's problem lives as long as the test.
            rooms: Box::leak(Problem::rooms(components, capacity, pools).into_boxed_slice()),
            pools,
            candidates: capacity.len() / pools,
            ordered: capacity.len() / pools,
            max_locations: 3,
            minimise_locations: true,
            node_budget: 10_000,
        }
    }

    fn simple(lines: usize) -> Vec<Vec<(usize, u32)>> {
        (0..lines).map(|l| vec![(l, 1)]).collect()
    }

    #[test]
    fn one_location_that_has_everything_beats_a_better_ranked_split() {
        let components = simple(2);
        // Candidate 0 has line 0 only; candidate 2 has both.
        let capacity = [5, 0, 0, 5, 5, 5];
        let p = problem(&[2, 2], &components, &capacity, 2);
        let Search::Found { pieces, exact } = p.solve() else { panic!("feasible") };
        assert!(exact);
        assert!(pieces.iter().all(|piece| piece.candidate == 2), "{pieces:?}");
    }

    #[test]
    fn without_minimising_the_best_ranks_win() {
        let components = simple(2);
        let capacity = [5, 0, 0, 5, 5, 5];
        let p = Problem { minimise_locations: false, ..problem(&[2, 2], &components, &capacity, 2) };
        let Search::Found { pieces, .. } = p.solve() else { panic!("feasible") };
        assert_eq!(
            pieces,
            vec![Piece { line: 0, candidate: 0, quantity: 2 }, Piece { line: 1, candidate: 1, quantity: 2 }]
        );
    }

    #[test]
    fn a_line_is_split_in_rank_order() {
        let components = simple(1);
        let capacity = [3, 4, 10];
        let p = Problem { max_locations: 2, ..problem(&[6], &components, &capacity, 1) };
        // Size 1: candidate 2 alone covers.
        let Search::Found { pieces, .. } = p.solve() else { panic!("feasible") };
        assert_eq!(pieces, vec![Piece { line: 0, candidate: 2, quantity: 6 }]);
        let capacity = [3, 4, 5];
        let p = Problem { max_locations: 2, ..problem(&[6], &components, &capacity, 1) };
        let Search::Found { pieces, .. } = p.solve() else { panic!("feasible") };
        assert_eq!(
            pieces,
            vec![Piece { line: 0, candidate: 0, quantity: 3 }, Piece { line: 0, candidate: 1, quantity: 3 }]
        );
    }

    #[test]
    fn kits_take_every_component_at_one_location() {
        // One kit line: 1 of pool 0 and 2 of pool 1 per kit.
        let components = vec![vec![(0, 1), (1, 2)]];
        let capacity = [10, 3, 1, 10];
        let p = problem(&[3], &components, &capacity, 2);
        // Candidate 0 gives 1 kit, candidate 1 gives 1 kit: 2 < 3.
        assert_eq!(p.solve(), Search::NotFound { exhaustive: true });
        assert!(!p.all_candidates_cover());
    }

    #[test]
    fn too_many_splits_is_told_apart_from_too_little_stock() {
        let components = simple(1);
        let capacity = [1, 1, 1, 1];
        let p = Problem { max_locations: 3, ..problem(&[4], &components, &capacity, 1) };
        assert_eq!(p.solve(), Search::NotFound { exhaustive: true });
        assert!(p.all_candidates_cover());
    }

    #[test]
    fn an_answer_past_the_ranked_prefix_asks_for_the_whole_order() {
        let components = simple(1);
        let capacity = [1, 1, 5, 1];
        let p = Problem { ordered: 2, ..problem(&[4], &components, &capacity, 1) };
        // Size 1 must look at candidate 2, past the prefix.
        assert_eq!(p.solve(), Search::Unordered);
        let p = Problem { ordered: 3, ..problem(&[4], &components, &capacity, 1) };
        assert_eq!(
            p.solve(),
            Search::Found { pieces: vec![Piece { line: 0, candidate: 2, quantity: 4 }], exact: true }
        );
        // Within the prefix, the answer stands.
        let p = Problem { ordered: 1, ..problem(&[1], &components, &capacity, 1) };
        assert!(matches!(p.solve(), Search::Found { exact: true, .. }));
        // No answer: the refusal needs every candidate.
        let p = Problem { ordered: 2, ..problem(&[9], &components, &capacity, 1) };
        assert_eq!(p.solve(), Search::Unordered);
    }

    #[test]
    fn a_spent_budget_falls_back_to_greedy() {
        let components = simple(1);
        let capacity = [1, 1, 1, 1, 1, 1];
        let p = Problem { max_locations: 6, node_budget: 2, ..problem(&[6], &components, &capacity, 1) };
        let Search::Found { pieces, exact } = p.solve() else { panic!("greedy covers") };
        assert!(!exact);
        assert_eq!(pieces.len(), 6);
    }
}
