# Cross build for 64-bit Arm (Raspberry Pi 4/5, Jetson, most industrial
# gateways) with Debian's cross compiler. The libraries come from
# build/sysroot-arm64 (scripts/arm64-sysroot: Debian 12's arm64 packages,
# unpacked); the C library and C++ runtime from the toolchain
# (/usr/aarch64-linux-gnu). Test programs run under qemu-aarch64.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

get_filename_component(_src "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(EDGEFLOW_SYSROOT "${_src}/build/sysroot-arm64" CACHE PATH "Unpacked arm64 libraries (scripts/arm64-sysroot)")
set(EDGEFLOW_TARGET_LIBDIRS
  "${EDGEFLOW_SYSROOT}/usr/lib/aarch64-linux-gnu" "${EDGEFLOW_SYSROOT}/lib/aarch64-linux-gnu"
  "${EDGEFLOW_SYSROOT}/usr/lib")  # a few libraries (HDF4, for OpenCV's codecs) are not in the multiarch directory

set(CMAKE_FIND_ROOT_PATH "${EDGEFLOW_SYSROOT}" /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads the arm64 .pc files and prefixes their paths with the sysroot.
set(ENV{PKG_CONFIG_LIBDIR} "${EDGEFLOW_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${EDGEFLOW_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${EDGEFLOW_SYSROOT}")
set(ENV{PKG_CONFIG_PATH} "")

# The linker finds the libraries' own dependencies (libssl for libmosquitto, ...).
foreach(_dir IN LISTS EDGEFLOW_TARGET_LIBDIRS)
  string(APPEND CMAKE_EXE_LINKER_FLAGS_INIT " -Wl,-rpath-link,${_dir}")
  string(APPEND CMAKE_SHARED_LINKER_FLAGS_INIT " -Wl,-rpath-link,${_dir}")
  string(APPEND CMAKE_MODULE_LINKER_FLAGS_INIT " -Wl,-rpath-link,${_dir}")
endforeach()

list(JOIN EDGEFLOW_TARGET_LIBDIRS ":" _ld_path)
find_program(QEMU_AARCH64 qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${QEMU_AARCH64};-L;/usr/aarch64-linux-gnu;-E;LD_LIBRARY_PATH=${_ld_path}")

# Architecture-specific headers (openssl/opensslconf.h, ...) live in the multiarch include directory.
set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES "${EDGEFLOW_SYSROOT}/usr/include/aarch64-linux-gnu")
set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES "${EDGEFLOW_SYSROOT}/usr/include/aarch64-linux-gnu")
