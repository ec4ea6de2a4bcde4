# Replays one trace and checks the exit status and, when given, a pattern in the output.
#   -DREPLAY=vmwdt-replay -DPLUGIN=path -DTRACE=file -DRC=0|1|2 [-DMATCH=regex]
# MATCH is looked for in stderr when RC is not 0, in stdout when it is; OUT_MATCH, when given,
# in stdout. A trace that cannot be read (RC 2) must print no summary: the replay streams, so
# events of the records before the unreadable line may have been printed, but it never
# completes.
execute_process(COMMAND ${REPLAY} --plugin ${PLUGIN} ${TRACE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(LENGTH "${out}" out_len)
if(out_len GREATER 4000)
  string(SUBSTRING "${out}" 0 4000 out)
  string(APPEND out "...\n")
endif()
if(NOT rc STREQUAL RC)
  message(FATAL_ERROR "exit status ${rc}, expected ${RC}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(RC STREQUAL "0")
  set(where "${out}")
else()
  set(where "${err}")
endif()
if(DEFINED MATCH AND NOT where MATCHES "${MATCH}")
  message(FATAL_ERROR "output lacks '${MATCH}'\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(DEFINED OUT_MATCH AND NOT out MATCHES "${OUT_MATCH}")
  message(FATAL_ERROR "stdout lacks '${OUT_MATCH}'\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(RC STREQUAL "2" AND out MATCHES "\"summary\"")
  message(FATAL_ERROR "an unreadable trace printed a summary:\n${out}")
endif()
message(STATUS "exit ${rc} as expected\n${out}")
