//! Rows

use std::path::PathBuf;

use crate::mcp::Era;
use crate::{Result, TOOL};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// tools/call through a comms-mcp child.
    Mcp(Era),
    /// The bare gRPC call.
    Grpc,
    /// The reference rmcp server (this executable as a child), 2026-07-28.
    Echo,
    /// `McpServer` + `GrpcBackend` in this process, 2026-07-28.
    InProcess,
    /// `McpServer` + `FixedBackend` in this process, 2026-07-28.
    InProcessFixed,
    /// `GrpcBackend::call_tool` alone.
    Backend,
    /// tools/call through another comms-mcp build (`MCP_RTT_SHIMS`).
    Other(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) group: &'static str,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// Run beside a `BusyLoop`.
    pub(crate) busy: bool,
}

/// Other comms-mcp builds to compare: `MCP_RTT_SHIMS=label=/path,...`.
pub(crate) fn extra_shims() -> Result<Vec<(String, PathBuf)>> {
    let Ok(list) = std::env::var("MCP_RTT_SHIMS") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (label, path) = item
                .split_once('=')
                .ok_or_else(|| format!("MCP_RTT_SHIMS: expected label=/path, got {item:?}"))?;
            let path = PathBuf::from(path.trim());
            if !path.is_file() {
                return Err(format!("MCP_RTT_SHIMS: {} is not a file", path.display()).into());
            }
            Ok((label.trim().to_owned(), path))
        })
        .collect()
}

pub(crate) fn rows(extra: &[(String, PathBuf)]) -> Vec<Row> {
    let row = |group, name: &str, kind, busy| Row {
        group,
        name: name.to_owned(),
        kind,
        busy,
    };
    let mut v = vec![
        row(
            "core",
            &format!("MCP tools/call {TOOL} via comms-mcp, 2026-07-28"),
            Kind::Mcp(Era::Modern),
            false,
        ),
        row(
            "core",
            &format!("MCP tools/call {TOOL} via comms-mcp, 2025-06-18"),
            Kind::Mcp(Era::Legacy),
            false,
        ),
        row(
            "core",
            &format!("bare gRPC Tools.Call {TOOL} (the shim's call)"),
            Kind::Grpc,
            false,
        ),
        row(
            "parts",
            "bare rmcp stdio server, same result, no backend",
            Kind::Echo,
            false,
        ),
        row(
            "parts",
            "McpServer+GrpcBackend in process (duplex, no stdio)",
            Kind::InProcess,
            false,
        ),
        row(
            "parts",
            "McpServer+fixed answer in process (no daemon)",
            Kind::InProcessFixed,
            false,
        ),
        row(
            "parts",
            "GrpcBackend::call_tool alone (no MCP)",
            Kind::Backend,
            false,
        ),
        row(
            "busy",
            "MCP 2026-07-28 via comms-mcp, niced busy loop",
            Kind::Mcp(Era::Modern),
            true,
        ),
        row("busy", "bare gRPC, niced busy loop", Kind::Grpc, true),
    ];
    for (i, (label, _)) in extra.iter().enumerate() {
        v.push(row(
            "shim",
            &format!("MCP 2026-07-28 via {label}"),
            Kind::Other(i),
            false,
        ));
    }
    v
}
