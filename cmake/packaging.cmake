# Manual pages (installed compressed, as Debian ships them) and the Debian packages that
# scripts/package.sh builds with CPack:
#   libvmwdt1     the shared library                        (component lib)
#   libvmwdt-dev  header, vmwdt.pc, CMake package, manifest, vmwdt(3)   (component dev)
#   vmwdt-tools   vmwdt-replay, vmwdt-vmm and their pages   (component tools)
option(VMWDT_PACKAGE_DEB "Install the Debian copyright and changelog files of each package" OFF)
find_program(VMWDT_GZIP gzip REQUIRED)

# vmwdt_man(<source> <section> <component>): gzip -9n the page at build time, install it.
set(_vmwdt_man_outputs "")
function(vmwdt_man source section component)
  get_filename_component(name ${source} NAME)
  set(out ${PROJECT_BINARY_DIR}/man/${name}.gz)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${VMWDT_GZIP} -9nc ${source} > ${out}
    DEPENDS ${source} COMMENT "Compressing the manual page ${name}" VERBATIM)
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT ${component})
  set(_vmwdt_man_outputs ${_vmwdt_man_outputs} ${out} PARENT_SCOPE)
endfunction()

vmwdt_man(${PROJECT_SOURCE_DIR}/abi/vmwdt.3 3 dev)
if(TARGET vmwdt-replay)
  vmwdt_man(${PROJECT_SOURCE_DIR}/host-shim/replay/vmwdt-replay.1 1 tools)
endif()
if(TARGET vmwdt-vmm)
  vmwdt_man(${PROJECT_SOURCE_DIR}/host-shim/vmm/vmwdt-vmm.1 1 tools)
endif()
add_custom_target(vmwdt_man ALL DEPENDS ${_vmwdt_man_outputs})

set(VMWDT_MAINTAINER "vmwdt developers <vmwdt-devel@lists.example.org>")
set(_pkg_lib libvmwdt1)
set(_pkg_dev libvmwdt-dev)
set(_pkg_tools vmwdt-tools)

if(VMWDT_PACKAGE_DEB)
  # Debian policy: each package has its copyright file and its (native) changelog.
  # The date of the build, or $SOURCE_DATE_EPOCH's for a reproducible one.
  string(TIMESTAMP VMWDT_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/debian/changelog.in
                 ${PROJECT_BINARY_DIR}/debian/changelog @ONLY)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/debian/changelog.gz
    COMMAND ${VMWDT_GZIP} -9nc ${PROJECT_BINARY_DIR}/debian/changelog
            > ${PROJECT_BINARY_DIR}/debian/changelog.gz
    DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog VERBATIM)
  add_custom_target(vmwdt_debian_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog.gz)
  foreach(c lib dev tools)
    install(FILES ${PROJECT_SOURCE_DIR}/cmake/debian/copyright
                  ${PROJECT_BINARY_DIR}/debian/changelog.gz
            DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${_pkg_${c}} COMPONENT ${c})
  endforeach()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vmwdt)
set(CPACK_PACKAGE_VENDOR "vmwdt developers")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL lib dev tools)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${VMWDT_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps turns the libraries each binary links into dependencies (libc6 for the
# library, whose jansson is a private copy; libjansson4 and libffi8 for the tools); the library's own package gets a shlibs file, so packages built against it depend
# on it in turn.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_LIB_PACKAGE_NAME ${_pkg_lib})
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
# dpkg runs ldconfig through its trigger (CPack's own postinst and postrm also call it).
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/cmake/debian/triggers)
set(CPACK_COMPONENT_LIB_DESCRIPTION "per-vCPU stall-detector watchdog device (shared library)
vmwdt is the per-vCPU stall detector behind the Linux guest driver
vcpu_stall_detector, for virtual machine monitors: the host forwards the
guest's MMIO accesses, and the library counts each vCPU's guest time down
and calls the host back to raise a stall interrupt or request a reset.

This package holds the shared library libvmwdt.so.1 (ABI 1.1).")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME ${_pkg_dev})
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${_pkg_lib} (= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_DEV_DESCRIPTION "per-vCPU stall-detector watchdog device (development files)
vmwdt is the per-vCPU stall detector behind the Linux guest driver
vcpu_stall_detector, for virtual machine monitors.

This package holds the header vmwdt.h, the pkg-config file vmwdt.pc, the
CMake package (find_package(vmwdt), target vmwdt::vmwdt), the ABI manifest
and the manual page vmwdt(3).")
set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME ${_pkg_tools})
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
# The tools load the library with dlopen(), which dpkg-shlibdeps cannot see.
set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "${_pkg_lib} (>= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_TOOLS_DESCRIPTION "per-vCPU stall-detector watchdog device (tools)
vmwdt is the per-vCPU stall detector behind the Linux guest driver
vcpu_stall_detector, for virtual machine monitors.

This package holds vmwdt-replay, which replays a trace of guest accesses
against the library in virtual time, and vmwdt-vmm, a small KVM virtual
machine monitor whose real vCPUs drive it.")
include(CPack)
