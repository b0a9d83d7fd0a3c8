//! The kernel as ipvssync sees it: apply a whole table, execute a few operations. Implemented by
//! [`lvs_ipvs::Client`] (the real IPVS) and [`MemoryKernel`] (a table in memory, for `--memory`
//! and for tests of the core without root or IPVS).

use std::fmt;

use lvs_core::model::{diff, Operation, Table, UnmanagedPolicy};

/// Why the kernel refused an operation, or could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError(pub String);

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KernelError {}

/// One operation sent to the kernel and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpOutcome {
    /// The operation.
    pub operation: Operation,
    /// What the kernel said.
    pub result: Result<(), KernelError>,
}

/// What ipvssync needs from the kernel.
pub trait Kernel {
    /// Makes the kernel hold `wanted` (services absent from it are deleted only under
    /// [`UnmanagedPolicy::Delete`]; unwanted destinations of a wanted service always are) and
    /// returns each operation that was needed, with its result: none when the kernel already
    /// holds the table. Fails only when the kernel's table cannot be read.
    fn apply(
        &mut self,
        wanted: &Table,
        policy: UnmanagedPolicy,
    ) -> Result<Vec<OpOutcome>, KernelError>;

    /// Sends `ops` in order; a failed one does not stop the others.
    fn execute(&mut self, ops: &[Operation]) -> Vec<OpOutcome>;
}

impl Kernel for lvs_ipvs::Client {
    fn apply(
        &mut self,
        wanted: &Table,
        policy: UnmanagedPolicy,
    ) -> Result<Vec<OpOutcome>, KernelError> {
        let report = lvs_ipvs::Client::apply(self, wanted, policy)
            .map_err(|e| KernelError(e.to_string()))?;
        Ok(report.results.into_iter().map(outcome).collect())
    }

    fn execute(&mut self, ops: &[Operation]) -> Vec<OpOutcome> {
        lvs_ipvs::Client::execute(self, ops)
            .into_iter()
            .map(outcome)
            .collect()
    }
}

fn outcome(r: lvs_ipvs::OpResult) -> OpOutcome {
    OpOutcome {
        operation: r.operation,
        result: r.result.map_err(|e| KernelError(e.to_string())),
    }
}

/// A kernel table in memory: it refuses what the kernel would (adding what exists, changing
/// what does not; [`Table::apply`]). With `log`, each operation is logged at DEBUG as
/// `memory: <operation>`.
#[derive(Debug, Clone, Default)]
pub struct MemoryKernel {
    /// The table the "kernel" holds; tests change it to simulate changes made outside ipvssync.
    pub table: Table,
    /// Log each operation.
    pub log: bool,
    /// Number of operations executed so far (successful or not).
    pub operations: u64,
}

impl MemoryKernel {
    /// An empty table; `log` as [`MemoryKernel::log`].
    pub fn new(log: bool) -> Self {
        Self {
            table: Table::new(),
            log,
            operations: 0,
        }
    }
}

impl Kernel for MemoryKernel {
    fn apply(
        &mut self,
        wanted: &Table,
        policy: UnmanagedPolicy,
    ) -> Result<Vec<OpOutcome>, KernelError> {
        let ops = diff(&self.table, wanted, policy);
        Ok(self.execute(&ops))
    }

    fn execute(&mut self, ops: &[Operation]) -> Vec<OpOutcome> {
        ops.iter()
            .map(|op| {
                self.operations += 1;
                let result = self.table.apply(op).map_err(|e| KernelError(e.to_string()));
                if self.log {
                    match &result {
                        Ok(()) => tracing::debug!("memory: {op}"),
                        Err(e) => tracing::debug!("memory: {op}: refused: {e}"),
                    }
                }
                OpOutcome {
                    operation: op.clone(),
                    result,
                }
            })
            .collect()
    }
}
