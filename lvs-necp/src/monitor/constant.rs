//! `constant`: always the configured value.

use async_trait::async_trait;

use super::{HealthMonitor, MonitorError};

/// The `constant` monitor (`monitor = constant.so`, `value = 32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constant {
    value: u8,
}

impl Constant {
    /// A monitor always reporting `value`, capped at 100.
    pub fn new(value: u8) -> Self {
        Self {
            value: value.min(100),
        }
    }
}

#[async_trait]
impl HealthMonitor for Constant {
    async fn health(&mut self) -> Result<u8, MonitorError> {
        Ok(self.value)
    }
}
