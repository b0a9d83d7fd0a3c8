//! # lvs-ipvs
//!
//! A client for the kernel's IPVS generic-netlink family.
//!
//! This crate is a placeholder until the IPVS issue lands: it will list, add, edit and delete
//! services and destinations and apply an [`lvs_core::model::Table`] to the kernel. Today it only
//! re-exports the model it will program.

#![forbid(unsafe_code)]

pub mod save;

pub use lvs_core::model::{Operation, Table};
