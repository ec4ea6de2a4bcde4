# fuzz_mmio: register accesses and lifecycle calls against the reference model (tests/common).
# The replay driver runs the committed corpus in every build; the libFuzzer target is built
# with clang when VMWDT_BUILD_FUZZ is ON.
set(MMIO_SEEDS ${CMAKE_CURRENT_SOURCE_DIR}/mmio_seeds)

add_executable(fuzz_mmio_replay replay_main.c fuzz_mmio.c)
target_include_directories(fuzz_mmio_replay PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(fuzz_mmio_replay PRIVATE vmwdt_model)
add_test(NAME fuzz_mmio_replay COMMAND fuzz_mmio_replay ${MMIO_SEEDS})
set_tests_properties(fuzz_mmio_replay PROPERTIES TIMEOUT 120)

if(VMWDT_BUILD_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang" AND NOT VMWDT_SANITIZE STREQUAL "thread")
  # The plugin and the model are compiled into the target itself, so that libFuzzer sees the
  # library's coverage. The snapshot codec, which fuzz_restore covers, stays uninstrumented:
  # tracing its byte loops would take most of the time of each input.
  get_target_property(MMIO_PLUGIN_SRCS vmwdt_objs SOURCES)
  list(TRANSFORM MMIO_PLUGIN_SRCS PREPEND ${PROJECT_SOURCE_DIR}/plugin/)
  add_executable(fuzz_mmio fuzz_mmio.c ${MMIO_PLUGIN_SRCS}
                 ${PROJECT_SOURCE_DIR}/tests/common/wdt_model.c
                 ${PROJECT_SOURCE_DIR}/tests/common/wdt_mdeliver.c
                 ${PROJECT_SOURCE_DIR}/tests/common/wdt_mdrive.c)
  target_compile_definitions(fuzz_mmio PRIVATE VMWDT_BUILDING_LIBRARY)
  target_include_directories(fuzz_mmio PRIVATE ${PROJECT_SOURCE_DIR}/plugin ${PROJECT_SOURCE_DIR}/abi
                             ${PROJECT_SOURCE_DIR}/snapshot ${PROJECT_SOURCE_DIR}/tests/common)
  target_link_libraries(fuzz_mmio PRIVATE wdt_snapshot Threads::Threads)
  set(MMIO_FUZZ_FLAGS -fsanitize=fuzzer)
  if(VMWDT_SANITIZE STREQUAL "")
    list(APPEND MMIO_FUZZ_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  endif()
  target_compile_options(fuzz_mmio PRIVATE ${MMIO_FUZZ_FLAGS})
  target_link_options(fuzz_mmio PRIVATE ${MMIO_FUZZ_FLAGS})

  # A bounded run: 60 s, new inputs into the build tree; the committed corpus is only read.
  set(MMIO_WORK ${CMAKE_CURRENT_BINARY_DIR}/fuzz_mmio_corpus)
  file(MAKE_DIRECTORY ${MMIO_WORK})
  add_test(NAME fuzz_mmio
           COMMAND fuzz_mmio -max_total_time=60 -timeout=10 -rss_limit_mb=2048 -max_len=4096
                   -print_final_stats=1 -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/mmio-
                   ${MMIO_WORK} ${MMIO_SEEDS})
  set_tests_properties(fuzz_mmio PROPERTIES TIMEOUT 180)
endif()
