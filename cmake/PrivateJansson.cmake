# The snapshot codec's private jansson: built from Debian's source package (scripts/deps.sh
# fetches it into a cache outside the source tree), compiled as hidden, position-independent
# objects and later made local to the codec's object, so that the host process's own jansson and
# this copy never see each other's symbols (see snapshot/wdt_json_arena.c for why).
#
# VMWDT_JANSSON_SOURCE names the unpacked source tree (the directory that holds src/load.c).
# When unset it is looked up in the cache deps.sh fills; without it the configure step fails:
# silently falling back to the shared jansson would bring back the heap corruption under memory
# pressure that the private copy exists to prevent.

if(NOT VMWDT_JANSSON_SOURCE)
  set(_cache "$ENV{VMWDT_CACHE_DIR}")
  if(NOT _cache)
    if(DEFINED ENV{XDG_CACHE_HOME})
      set(_cache "$ENV{XDG_CACHE_HOME}/vmwdt")
    else()
      set(_cache "$ENV{HOME}/.cache/vmwdt")
    endif()
  endif()
  file(GLOB _found LIST_DIRECTORIES true "${_cache}/jansson-*/src")
  list(SORT _found COMPARE NATURAL ORDER DESCENDING)
  list(GET _found 0 _first)
  if(_found AND EXISTS "${_first}/src/load.c")
    set(_default "${_first}")
  endif()
  set(VMWDT_JANSSON_SOURCE "${_default}" CACHE PATH
      "Unpacked jansson source tree (Debian's source package) for the snapshot codec's private copy")
endif()
if(NOT EXISTS "${VMWDT_JANSSON_SOURCE}/src/load.c")
  message(FATAL_ERROR
    "The snapshot codec needs jansson's source for its private copy, and none was found "
    "(VMWDT_JANSSON_SOURCE='${VMWDT_JANSSON_SOURCE}'). Run scripts/deps.sh, which fetches it "
    "with apt-get source, or pass -DVMWDT_JANSSON_SOURCE=<unpacked tree>.")
endif()
message(STATUS "Private jansson for the snapshot codec: ${VMWDT_JANSSON_SOURCE}")

set(_jsrc "${VMWDT_JANSSON_SOURCE}/src")
set(VMWDT_JANSSON_GEN "${CMAKE_BINARY_DIR}/private-jansson")
# The two configuration headers jansson's build would generate, for this compiler and libc.
file(WRITE "${VMWDT_JANSSON_GEN}/jansson_config.h.tmp"
"/* Generated for the snapshot codec's private jansson. */
#ifndef JANSSON_CONFIG_H
#define JANSSON_CONFIG_H
#define JSON_INLINE inline
#define JSON_INTEGER_IS_LONG_LONG 1
#define JSON_HAVE_LOCALECONV 1
#define JSON_HAVE_ATOMIC_BUILTINS 1
#define JSON_HAVE_SYNC_BUILTINS 1
#define JSON_PARSER_MAX_DEPTH 2048
#endif
")
file(WRITE "${VMWDT_JANSSON_GEN}/jansson_private_config.h.tmp"
"/* Generated for the snapshot codec's private jansson. */
#define HAVE_STDINT_H 1
#define HAVE_INTTYPES_H 1
#define HAVE_UNISTD_H 1
#define HAVE_FCNTL_H 1
#define HAVE_SCHED_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_LOCALE_H 1
#define HAVE_CLOSE 1
#define HAVE_OPEN 1
#define HAVE_READ 1
#define HAVE_GETPID 1
#define HAVE_GETTIMEOFDAY 1
#define HAVE_SCHED_YIELD 1
#define HAVE_ATOMIC_BUILTINS 1
#define HAVE_SYNC_BUILTINS 1
#define HAVE_LOCALECONV 1
#define USE_URANDOM 1
#define INITIAL_HASHTABLE_ORDER 3
")
foreach(_h jansson_config.h jansson_private_config.h)
  file(COPY_FILE "${VMWDT_JANSSON_GEN}/${_h}.tmp" "${VMWDT_JANSSON_GEN}/${_h}" ONLY_IF_DIFFERENT)
endforeach()

set(VMWDT_JANSSON_SOURCES)
foreach(_f dump.c error.c hashtable.c hashtable_seed.c load.c memory.c pack_unpack.c strbuffer.c
           strconv.c utf.c value.c version.c)
  list(APPEND VMWDT_JANSSON_SOURCES "${_jsrc}/${_f}")
endforeach()
# Include directories for code that uses the private copy: its headers come before the system's.
set(VMWDT_JANSSON_INCLUDE_DIRS "${VMWDT_JANSSON_GEN}" "${_jsrc}")

# vmwdt_private_jansson(<target> [<compile option>...]): an object library of the private copy.
function(vmwdt_private_jansson name)
  add_library(${name} OBJECT ${VMWDT_JANSSON_SOURCES})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden)
  target_include_directories(${name} BEFORE PRIVATE ${VMWDT_JANSSON_INCLUDE_DIRS})
  target_compile_definitions(${name} PRIVATE HAVE_CONFIG_H=1)
  # Upstream code: built as its authors build it, without this project's warning set.
  target_compile_options(${name} PRIVATE -w ${ARGN})
endfunction()

find_program(VMWDT_OBJCOPY NAMES objcopy REQUIRED)
set(WDT_SNAPSHOT_SOURCES
  ${PROJECT_SOURCE_DIR}/snapshot/wdt_snap_fields.c
  ${PROJECT_SOURCE_DIR}/snapshot/wdt_snap_decode.c
  ${PROJECT_SOURCE_DIR}/snapshot/wdt_snap_encode.c
  ${PROJECT_SOURCE_DIR}/snapshot/wdt_json_arena.c)
# The only symbols the codec's object keeps global: everything else in it, jansson included,
# becomes local to it.
set(WDT_SNAPSHOT_API wdt_snap_encode wdt_snap_decode wdt_snap_release wdt_snap_parse_stats
                     wdt_snap_parse_test_reserve)

# vmwdt_snapshot_codec(<static library> [<compile option>...]): the codec and its jansson,
# linked into one relocatable object whose only global symbols are WDT_SNAPSHOT_API. Neither a
# program that also links the system's jansson nor the library's host can then reach the
# private copy's json_* functions, nor replace them.
function(vmwdt_snapshot_codec name)
  vmwdt_private_jansson(${name}_jansson ${ARGN})
  add_library(${name}_objs OBJECT ${WDT_SNAPSHOT_SOURCES})
  set_target_properties(${name}_objs PROPERTIES POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden)
  target_include_directories(${name}_objs BEFORE PRIVATE ${VMWDT_JANSSON_INCLUDE_DIRS})
  target_compile_options(${name}_objs PRIVATE ${ARGN})

  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.o)
  set(keep)
  foreach(sym ${WDT_SNAPSHOT_API})
    list(APPEND keep -G ${sym})
  endforeach()
  add_custom_command(OUTPUT ${obj}
    COMMAND ${CMAKE_LINKER} -r -o ${obj} $<TARGET_OBJECTS:${name}_objs> $<TARGET_OBJECTS:${name}_jansson>
    COMMAND ${VMWDT_OBJCOPY} ${keep} ${obj}
    DEPENDS ${name}_objs ${name}_jansson $<TARGET_OBJECTS:${name}_objs> $<TARGET_OBJECTS:${name}_jansson>
    COMMAND_EXPAND_LISTS
    COMMENT "Linking the snapshot codec with its private jansson (${name}.o)")
  set_source_files_properties(${obj} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
  add_library(${name} STATIC ${obj})
  set_target_properties(${name} PROPERTIES LINKER_LANGUAGE C)
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/snapshot)
  target_link_libraries(${name} PUBLIC Threads::Threads)
endfunction()

