//! Where a run's figures came from: the machine and the source revision every summary carries.

use sysinfo::System;

use crate::summary::Machine;

/// Facts about this machine.
pub fn machine() -> Machine {
    let mut sys = System::new();
    sys.refresh_cpu_all();
    sys.refresh_memory();
    let cpu_model = sys
        .cpus()
        .first()
        .map(|c| c.brand().trim().to_string())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "unknown".into());
    Machine {
        hostname: System::host_name(),
        os: System::long_os_version(),
        kernel: System::kernel_version(),
        cpu_model,
        cpu_cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or_else(|_| sys.cpus().len().max(1)),
        cpu_physical_cores: System::physical_core_count(),
        memory_bytes: sys.total_memory(),
    }
}

/// `git rev-parse HEAD` and whether the tree is dirty, run in `dir`.
pub fn git_revision(dir: &std::path::Path) -> (Option<String>, Option<bool>) {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let rev = run(&["rev-parse", "HEAD"]).filter(|s| !s.is_empty());
    let dirty = rev
        .as_ref()
        .and_then(|_| run(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    (rev, dirty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_facts() {
        let m = machine();
        assert!(m.cpu_cores >= 1);
        assert!(m.memory_bytes > 0);
    }
}
