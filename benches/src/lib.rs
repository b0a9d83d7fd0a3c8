//! Shared helpers of the benchmarks: generators of realistic tables and configurations.
