# abi_check.cmake — the shared library's ABI surface: its soname is
# libnabla.so.MAJOR, and it exports exactly the functions the public
# headers (include/*.h: nabla.h, nabla_dist.h) declare (all nb_), nothing of
# nabla's internals. Run by CTest with -DLIB=libnabla.so
# -DHEADER_DIR=include -DMAJOR=N.

execute_process(COMMAND readelf -d ${LIB} RESULT_VARIABLE rc OUTPUT_VARIABLE dyn)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf -d ${LIB} failed (${rc})")
endif()
if(NOT dyn MATCHES "\\(SONAME\\) +Library soname: \\[libnabla\\.so\\.${MAJOR}\\]")
  message(FATAL_ERROR "${LIB}: no soname libnabla.so.${MAJOR}:\n${dyn}")
endif()

execute_process(COMMAND nm -D --defined-only ${LIB} RESULT_VARIABLE rc OUTPUT_VARIABLE syms)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm -D --defined-only ${LIB} failed (${rc})")
endif()
string(REPLACE "\n" ";" lines "${syms}")
set(exported)
foreach(line ${lines})
  if(line MATCHES "^[0-9a-fA-F]* *[A-Za-z] ([^ @]+)")
    list(APPEND exported ${CMAKE_MATCH_1})
  endif()
endforeach()

# The header's functions: declarations start a line with their return type
# (comments and typedefs of function pointers excluded).
file(GLOB headers ${HEADER_DIR}/*.h)
set(declared)
foreach(h ${headers})
  file(STRINGS ${h} decls REGEX "^[A-Za-z][^(]*[ *]nb_[a-z0-9_]+\\(")
  foreach(d ${decls})
    if(NOT d MATCHES "^typedef" AND d MATCHES "[ *](nb_[a-z0-9_]+)\\(")
      list(APPEND declared ${CMAKE_MATCH_1})
    endif()
  endforeach()
endforeach()
list(LENGTH declared n_declared)
if(n_declared LESS 50)
  message(FATAL_ERROR "${HEADER_DIR}: found only ${n_declared} declarations in ${headers}")
endif()

set(extra ${exported})
list(REMOVE_ITEM extra ${declared})
set(missing ${declared})
list(REMOVE_ITEM missing ${exported})
if(extra OR missing)
  message(FATAL_ERROR "${LIB} exports what the headers do not declare: ${extra}\n"
                      "the headers declare what ${LIB} does not export: ${missing}")
endif()
list(LENGTH exported n)
message(STATUS "${LIB}: soname libnabla.so.${MAJOR}, exports the ${n} functions of the headers")
