//! The allocation search: pure, over capacities computed under the stock locks.
