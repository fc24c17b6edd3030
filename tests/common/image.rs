//! The busybox image in the format that dockerd 20.10 loads.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::busybox_oci;

/// The tag that [`busybox_docker_archive`] gives the image (dockerd shows it as is; its full
/// name is `docker.io/library/busybox:snoop`, the same image as [`busybox_oci`]'s).
pub const DOCKER_IMAGE: &str = "busybox:snoop";

/// Builds the busybox image as a tarball that `docker load` of docker 20.10 accepts, in `dir`,
/// and returns its path.
///
/// docker 20.10 loads only the docker-archive format (a `manifest.json` naming each image's
/// config and layer files; OCI layouts came with docker 25) and refuses [`busybox_oci`]'s tarball
/// ("open .../blobs/json: no such file or directory"). So this is that tarball with a
/// `manifest.json` added that points at its config and layer blobs, as newer `docker save`
/// writes: both formats in one archive. dockerd decompresses the gzipped layer itself and checks
/// it against the config's `diff_ids`.
pub fn busybox_docker_archive(dir: &Path) -> PathBuf {
    let oci = busybox_oci(dir);
    let mut entries: Vec<(tar::Header, Vec<u8>)> = Vec::new();
    let mut archive = tar::Archive::new(File::open(&oci).expect("cannot open the OCI tarball"));
    for entry in archive.entries().expect("cannot read the OCI tarball") {
        let mut entry = entry.expect("corrupt entry in the OCI tarball");
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .expect("cannot read an entry of the OCI tarball");
        entries.push((entry.header().clone(), data));
    }
    let files: HashMap<String, &[u8]> = entries
        .iter()
        .filter_map(|(h, data)| Some((h.path().ok()?.to_string_lossy().into_owned(), &data[..])))
        .collect();
    let json = |name: &str| -> serde_json::Value {
        let bytes = files
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {}", oci.display()));
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
    };
    let blob = |digest: &serde_json::Value| {
        let digest = digest.as_str().expect("a digest is a string");
        let hex = digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
        format!("blobs/sha256/{hex}")
    };
    let index = json("index.json");
    let manifest = json(&blob(&index["manifests"][0]["digest"]));
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .expect("the manifest has layers")
        .iter()
        .map(|l| blob(&l["digest"]))
        .collect();
    let docker_manifest = serde_json::json!([{
        "Config": blob(&manifest["config"]["digest"]),
        "RepoTags": [DOCKER_IMAGE],
        "Layers": layers,
    }]);
    let docker_manifest = serde_json::to_vec(&docker_manifest).expect("JSON serialises");

    let out = dir.join("busybox-docker.tar");
    let mut builder = tar::Builder::new(File::create(&out).expect("cannot create the archive"));
    for (header, data) in &entries {
        builder
            .append(header, &data[..])
            .expect("cannot write the archive");
    }
    // Same fixed metadata as the OCI tarball's entries, so the archive is reproducible.
    let mut header = tar::Header::new_gnu();
    header.set_size(docker_manifest.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, "manifest.json", &docker_manifest[..])
        .expect("cannot write the archive");
    builder.finish().expect("cannot finish the archive");
    out
}
