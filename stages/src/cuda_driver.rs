//! What libtorch's C API does not expose about a CUDA device: its name, compute capability,
//! multiprocessor count and memory, read from the CUDA driver (`libcuda.so.1`, which the
//! CUDA runtime inside libtorch_cuda has already loaded on a GPU machine) with `dlopen`.
//!
//! Only the driver API's stable entry points are used (`cuInit`, `cuDeviceGet*`,
//! `cuDeviceTotalMem_v2`, `cuMemGetInfo_v2`), each looked up by name; a machine without the
//! driver gets an error sentence, never a crash. Device ordinals follow
//! `CUDA_VISIBLE_DEVICES`, as libtorch's do.

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};

/// One device as the driver describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DriverDevice {
    pub name: String,
    /// `9.0` for an H100/H200.
    pub capability: String,
    pub multiprocessors: i32,
    pub memory_total_mb: f64,
    /// Free memory as the driver sees it (needs a current context: `None` before libtorch
    /// has touched the device from this thread).
    pub memory_free_mb: Option<f64>,
}

/// The loaded driver library.
pub struct Driver {
    handle: *mut c_void,
}

const CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: c_int = 16;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: c_int = 75;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: c_int = 76;
const MB: f64 = 1024.0 * 1024.0;

impl Driver {
    /// Opens `libcuda.so.1` and initialises the driver API.
    pub fn open() -> Result<Driver, String> {
        // SAFETY: dlopen with a NUL-terminated name; a null return is handled.
        let handle = unsafe { libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW) };
        if handle.is_null() {
            return Err("no CUDA driver: libcuda.so.1 cannot be loaded".to_string());
        }
        let d = Driver { handle };
        let init: unsafe extern "C" fn(c_uint) -> c_int = d.symbol(c"cuInit")?;
        // SAFETY: cuInit takes a flags word that must be 0.
        d.check("cuInit", unsafe { init(0) })?;
        Ok(d)
    }

    /// The address of `name` as a function pointer of type `F`.
    fn symbol<F: Copy>(&self, name: &CStr) -> Result<F, String> {
        // SAFETY: `handle` is a live dlopen handle and `name` is NUL-terminated.
        let p = unsafe { libc::dlsym(self.handle, name.as_ptr()) };
        if p.is_null() {
            return Err(format!("the CUDA driver has no {}", name.to_string_lossy()));
        }
        assert_eq!(size_of::<F>(), size_of::<*mut c_void>());
        // SAFETY: F is a function pointer type matching the driver's documented
        // signature for `name` (each call site names both).
        Ok(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }

    fn check(&self, what: &str, code: c_int) -> Result<(), String> {
        if code == 0 {
            Ok(())
        } else {
            Err(format!("{what} failed with CUDA driver error {code}"))
        }
    }

    /// The driver's CUDA version, `13.0`.
    pub fn version(&self) -> Result<String, String> {
        let f: unsafe extern "C" fn(*mut c_int) -> c_int = self.symbol(c"cuDriverGetVersion")?;
        let mut v = 0;
        // SAFETY: writes one int.
        self.check("cuDriverGetVersion", unsafe { f(&mut v) })?;
        Ok(format!("{}.{}", v / 1000, (v % 1000) / 10))
    }

    pub fn device(&self, ordinal: i32) -> Result<DriverDevice, String> {
        let get: unsafe extern "C" fn(*mut c_int, c_int) -> c_int = self.symbol(c"cuDeviceGet")?;
        let name_of: unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int =
            self.symbol(c"cuDeviceGetName")?;
        let attr: unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int =
            self.symbol(c"cuDeviceGetAttribute")?;
        let total: unsafe extern "C" fn(*mut usize, c_int) -> c_int =
            self.symbol(c"cuDeviceTotalMem_v2")?;
        let mem_info: unsafe extern "C" fn(*mut usize, *mut usize) -> c_int =
            self.symbol(c"cuMemGetInfo_v2")?;
        let mut dev = 0;
        // SAFETY (all calls below): out-pointers to live locals, a buffer of the length given.
        self.check("cuDeviceGet", unsafe { get(&mut dev, ordinal) })?;
        let mut buf = [0 as c_char; 256];
        self.check("cuDeviceGetName", unsafe {
            name_of(buf.as_mut_ptr(), buf.len() as c_int - 1, dev)
        })?;
        // SAFETY: the driver wrote a NUL-terminated name; the last byte is still 0.
        let name = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        let read = |a: c_int| -> Result<i32, String> {
            let mut v = 0;
            self.check("cuDeviceGetAttribute", unsafe { attr(&mut v, a, dev) })?;
            Ok(v)
        };
        let (major, minor) = (
            read(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            read(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        );
        let mut bytes = 0usize;
        self.check("cuDeviceTotalMem_v2", unsafe { total(&mut bytes, dev) })?;
        let (mut free, mut all) = (0usize, 0usize);
        let free_mb = (unsafe { mem_info(&mut free, &mut all) } == 0).then(|| free as f64 / MB);
        Ok(DriverDevice {
            name,
            capability: format!("{major}.{minor}"),
            multiprocessors: read(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
            memory_total_mb: bytes as f64 / MB,
            memory_free_mb: free_mb,
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: the handle came from dlopen; the library stays loaded for libtorch anyway.
        unsafe {
            libc::dlclose(self.handle);
        }
    }
}
