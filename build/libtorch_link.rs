// Shared by the build scripts of `pipe` and `pipe-stages` (each `include!`s it).
//
// torch-sys links libtorch_cpu, but the linker's `--as-needed` then drops libtorch_cuda,
// because no symbol of it is referenced directly: CUDA kernels register themselves from
// its static initialisers. Without it a binary sees no GPU even where one exists. So keep
// it in the link when the wheel ships it, and set an rpath to libtorch's lib dir so the
// binary runs without LD_LIBRARY_PATH on the machine that built it. Another machine with
// the same libtorch (torch 2.11 from PyPI) runs it with LD_LIBRARY_PATH=<torch>/lib.

/// `bin`: the one binary target that links libtorch (`pipe-torch` in the `pipe` package: the
/// engine's own binary must not load it); `None` for every target of the package.
fn link_libtorch(bin: Option<&str>) {
    let arg = |a: &str| match bin {
        Some(b) => println!("cargo:rustc-link-arg-bin={b}={a}"),
        None => println!("cargo:rustc-link-arg={a}"),
    };
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    arg(&format!("-Wl,-rpath,{lib}"));
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        arg("-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
