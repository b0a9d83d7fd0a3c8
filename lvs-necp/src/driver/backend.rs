//! Where the master's decisions go: IPVS, memory, or nowhere (dry run).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use lvs_core::model::{DestKey, Destination, Forwarding, Operation, Service, ServiceKey, Table};

use crate::session::master::RealKey;

/// A backend's failure, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// The table the master programs. Every method is idempotent as the master needs it:
/// adding what exists updates it, removing what is gone succeeds.
#[async_trait]
pub trait Backend: Send {
    /// Creates a virtual service; an existing one is left as it is.
    async fn add_service(&mut self, service: &Service) -> Result<(), BackendError>;
    /// Adds a real server; when it exists, sets its weight and forwarding method.
    async fn add_real(
        &mut self,
        service: &ServiceKey,
        dest: &Destination,
    ) -> Result<(), BackendError>;
    /// Sets a real server's weight (its forwarding method is given, so no read is needed).
    async fn set_weight(
        &mut self,
        real: &RealKey,
        weight: u32,
        forwarding: Forwarding,
    ) -> Result<(), BackendError>;
    /// The active connections of each real server, in order; `None` for one not in the table.
    async fn active_connections(
        &mut self,
        reals: &[RealKey],
    ) -> Result<Vec<Option<u32>>, BackendError>;
    /// Removes a real server; a missing one is fine.
    async fn remove_real(&mut self, real: &RealKey) -> Result<(), BackendError>;
    /// Whether the backend changes nothing (dry run): the driver then logs what it would do.
    fn is_dry_run(&self) -> bool {
        false
    }
}

#[derive(Debug, Default)]
struct MemoryState {
    table: Table,
    active: HashMap<(ServiceKey, DestKey), u32>,
}

/// A backend in memory: an `lvs-core` [`Table`] and settable active-connection counts.
/// Clones share the same table, so a test keeps one to look at what the master did.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    state: Arc<Mutex<MemoryState>>,
}

impl MemoryBackend {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the table.
    pub fn table(&self) -> Table {
        self.lock().table.clone()
    }

    /// The weight of a real server, `None` when it is not in the table.
    pub fn weight(&self, real: &RealKey) -> Option<u32> {
        self.lock()
            .table
            .destination(&real.service, &real.real)
            .map(|d| d.weight)
    }

    /// Sets the active-connection count reported for a real server.
    pub fn set_active(&self, real: &RealKey, active: u32) {
        self.lock().active.insert((real.service, real.real), active);
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn add_service(&mut self, service: &Service) -> Result<(), BackendError> {
        let mut s = self.lock();
        if s.table.get(&service.key).is_none() {
            s.table.insert_service(service.clone());
        }
        Ok(())
    }

    async fn add_real(
        &mut self,
        service: &ServiceKey,
        dest: &Destination,
    ) -> Result<(), BackendError> {
        let mut s = self.lock();
        s.table
            .insert_destination(service, *dest)
            .map_err(|e| BackendError(e.to_string()))?;
        Ok(())
    }

    async fn set_weight(
        &mut self,
        real: &RealKey,
        weight: u32,
        _forwarding: Forwarding,
    ) -> Result<(), BackendError> {
        let mut s = self.lock();
        let mut dest = *s
            .table
            .destination(&real.service, &real.real)
            .ok_or_else(|| BackendError(format!("no real server {real}")))?;
        dest.weight = weight;
        s.table
            .apply(&Operation::EditDestination {
                service: real.service,
                dest,
            })
            .map_err(|e| BackendError(e.to_string()))?;
        Ok(())
    }

    async fn active_connections(
        &mut self,
        reals: &[RealKey],
    ) -> Result<Vec<Option<u32>>, BackendError> {
        let s = self.lock();
        Ok(reals
            .iter()
            .map(|real| {
                let present = s.table.destination(&real.service, &real.real).is_some();
                present.then(|| {
                    s.active
                        .get(&(real.service, real.real))
                        .copied()
                        .unwrap_or(0)
                })
            })
            .collect())
    }

    async fn remove_real(&mut self, real: &RealKey) -> Result<(), BackendError> {
        let mut s = self.lock();
        let op = Operation::DeleteDestination {
            service: real.service,
            dest: real.real,
        };
        // A missing one is fine.
        let _ = s.table.apply(&op);
        Ok(())
    }
}

/// A backend that reads through another one (active connection counts) and changes nothing:
/// the master's `-n`.
#[derive(Debug)]
pub struct DryRun<B>(pub B);

#[async_trait]
impl<B: Backend> Backend for DryRun<B> {
    async fn add_service(&mut self, _service: &Service) -> Result<(), BackendError> {
        Ok(())
    }
    async fn add_real(
        &mut self,
        _service: &ServiceKey,
        _dest: &Destination,
    ) -> Result<(), BackendError> {
        Ok(())
    }
    async fn set_weight(
        &mut self,
        _real: &RealKey,
        _weight: u32,
        _forwarding: Forwarding,
    ) -> Result<(), BackendError> {
        Ok(())
    }
    async fn active_connections(
        &mut self,
        reals: &[RealKey],
    ) -> Result<Vec<Option<u32>>, BackendError> {
        // A real the dry run never added is not in the table: count it as idle.
        let counts = self.0.active_connections(reals).await?;
        Ok(counts.into_iter().map(|n| Some(n.unwrap_or(0))).collect())
    }
    async fn remove_real(&mut self, _real: &RealKey) -> Result<(), BackendError> {
        Ok(())
    }
    fn is_dry_run(&self) -> bool {
        true
    }
}

#[cfg(feature = "ipvs")]
mod ipvs {
    use super::*;
    use lvs_ipvs::{AsyncClient, Error, Reason};

    /// The kernel's IPVS table through `lvs-ipvs`.
    #[derive(Debug)]
    pub struct IpvsBackend {
        client: AsyncClient,
    }

    impl IpvsBackend {
        /// Connects to the kernel's IPVS (needs CAP_NET_ADMIN to change it).
        pub async fn new() -> Result<Self, BackendError> {
            let client = AsyncClient::new().await.map_err(err)?;
            Ok(IpvsBackend { client })
        }
    }

    fn err(e: Error) -> BackendError {
        BackendError(e.to_string())
    }

    fn reason(e: &Error) -> Option<Reason> {
        match e {
            Error::Kernel { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    #[async_trait]
    impl Backend for IpvsBackend {
        async fn add_service(&mut self, service: &Service) -> Result<(), BackendError> {
            match self.client.add_service(service).await {
                Err(e) if reason(&e) == Some(Reason::ServiceExists) => Ok(()),
                r => r.map_err(err),
            }
        }

        async fn add_real(
            &mut self,
            service: &ServiceKey,
            dest: &Destination,
        ) -> Result<(), BackendError> {
            match self.client.add_destination(service, dest).await {
                Err(e) if reason(&e) == Some(Reason::DestinationExists) => self
                    .client
                    .edit_destination(service, dest)
                    .await
                    .map_err(err),
                r => r.map_err(err),
            }
        }

        async fn set_weight(
            &mut self,
            real: &RealKey,
            weight: u32,
            forwarding: Forwarding,
        ) -> Result<(), BackendError> {
            // One request: the master never sets thresholds, and it knows the forwarding.
            let dest = Destination::new(real.real.addr, real.real.port, weight, forwarding);
            self.client
                .edit_destination(&real.service, &dest)
                .await
                .map_err(err)
        }

        async fn active_connections(
            &mut self,
            reals: &[RealKey],
        ) -> Result<Vec<Option<u32>>, BackendError> {
            // One destination dump per virtual service, however many reals it has.
            let mut by_service: HashMap<ServiceKey, HashMap<DestKey, u32>> = HashMap::new();
            for real in reals {
                if by_service.contains_key(&real.service) {
                    continue;
                }
                let counts = match self.client.destinations(&real.service).await {
                    Ok(list) => list
                        .into_iter()
                        .map(|d| (d.dest.key(), d.active_conns))
                        .collect(),
                    Err(e) if reason(&e) == Some(Reason::NoSuchService) => HashMap::new(),
                    Err(e) => return Err(err(e)),
                };
                by_service.insert(real.service, counts);
            }
            Ok(reals
                .iter()
                .map(|r| {
                    by_service
                        .get(&r.service)
                        .and_then(|m| m.get(&r.real))
                        .copied()
                })
                .collect())
        }

        async fn remove_real(&mut self, real: &RealKey) -> Result<(), BackendError> {
            match self
                .client
                .delete_destination(&real.service, &real.real)
                .await
            {
                Err(e)
                    if matches!(
                        reason(&e),
                        Some(Reason::NoSuchDestination | Reason::NoSuchService)
                    ) =>
                {
                    Ok(())
                }
                r => r.map_err(err),
            }
        }
    }
}

#[cfg(feature = "ipvs")]
pub use ipvs::IpvsBackend;
