# Hosts built for ABI 1.0 run unchanged against this library. Every suite that uses only the
# public ABI is built a second time with the released 1.0 header (tests/abi/fixtures/vmwdt-1.0,
# kept byte for byte as 1.0 shipped it) first on the include path, and run against the library
# as it is now; a guard compiled into each proves that the 1.0 header was the one used, and
# abi10_symbols checks that every such binary binds only VMWDT_1.0 symbols.
#
# This runs at the end of tests/ (cmake_language(DEFER) in tests/abi), once every suite's target
# exists: each copy takes the sources, definitions and libraries of the suite it copies, so a
# suite that gains a file needs no change here.
set(_fixture ${PROJECT_SOURCE_DIR}/tests/abi/fixtures/vmwdt-1.0)
set(_guard ${PROJECT_SOURCE_DIR}/tests/abi/compat_guard.c)

# abi10_copy(<target>): a copy of target named abi10_<target>, built against the 1.0 header.
function(abi10_copy target)
  if(NOT TARGET ${target})
    return()
  endif()
  get_target_property(dir ${target} SOURCE_DIR)
  get_target_property(srcs ${target} SOURCES)
  get_target_property(defs ${target} COMPILE_DEFINITIONS)
  get_target_property(incs ${target} INCLUDE_DIRECTORIES)
  get_target_property(libs ${target} LINK_LIBRARIES)
  set(abs "")
  foreach(s IN LISTS srcs)
    cmake_path(ABSOLUTE_PATH s BASE_DIRECTORY ${dir})
    list(APPEND abs ${s})
  endforeach()
  list(TRANSFORM libs REPLACE "^vmwdt_vharness$" abi10_vmwdt_vharness)
  set(name abi10_${target})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "STATIC_LIBRARY")
    add_library(${name} STATIC ${abs} ${_guard})
  else()
    add_executable(${name} ${abs} ${_guard})
  endif()
  target_include_directories(${name} BEFORE PRIVATE ${_fixture})
  if(incs)
    target_include_directories(${name} PRIVATE ${incs})
  endif()
  target_compile_definitions(${name} PRIVATE VMWDT_COMPAT_OLDER_HEADER)
  if(defs)
    target_compile_definitions(${name} PRIVATE ${defs})
  endif()
  if(libs)
    target_link_libraries(${name} PRIVATE ${libs})
  endif()
  if(type STREQUAL "STATIC_LIBRARY")
    # What the copied suites include through it: the 1.0 header first, its own folder next.
    target_include_directories(${name} BEFORE PUBLIC ${_fixture} ${dir})
    target_link_libraries(${name} PUBLIC ${libs})
  endif()
  add_dependencies(${name} vmwdt)
endfunction()

abi10_copy(vmwdt_vharness)
set(_suites abi_rules abi_dlopen core_registers core_scenarios core_hostile core_runtime
            test_snapshot_corpus test_snapshot_migrate host_example)
set(_bins "")
foreach(t IN LISTS _suites)
  if(NOT TARGET ${t})
    continue()
  endif()
  abi10_copy(${t})
  if(t STREQUAL "host_example")
    add_test(NAME abi10_example_host COMMAND abi10_host_example)
    set_tests_properties(abi10_example_host PROPERTIES TIMEOUT 30
      PASS_REGULAR_EXPRESSION "stall interrupt on vCPU 0\nreset requested by vCPU 0")
  else()
    add_test(NAME abi10_${t} COMMAND abi10_${t})
    get_test_property(${t} TIMEOUT timeout)
    set_tests_properties(abi10_${t} PROPERTIES TIMEOUT ${timeout} SKIP_RETURN_CODE 77)
  endif()
  list(APPEND _bins $<TARGET_FILE:abi10_${t}>)
endforeach()

# Each 1.0 host binds only VMWDT_1.0 symbols of the library (an undefined vmwdt_ symbol at
# another version would mean it was built against something newer).
add_test(NAME abi10_symbols
  COMMAND sh -c [=[
    fail=0
    for b in "$@"; do
      bad=$(nm -D --undefined-only "$b" | awk '$2 ~ /^vmwdt_/ && $2 !~ /@VMWDT_1\.0$/ { print $2 }')
      if [ -n "$bad" ]; then echo "FAIL: $b binds $bad"; fail=1; fi
      nm -D --undefined-only "$b" | grep -q '@VMWDT_1.0' && n=$((${n:-0} + 1))
    done
    [ "$fail" -eq 0 ] && echo "OK: ${n:-0} hosts built for 1.0 bind only VMWDT_1.0"
    exit $fail]=] abi10_symbols ${_bins})
set_tests_properties(abi10_symbols PROPERTIES TIMEOUT 30 PASS_REGULAR_EXPRESSION "OK: [1-9]")
