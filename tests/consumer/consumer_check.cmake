# consumer_check.cmake — builds and runs the XOR program as a project
# outside nabla would, one way per MODE:
#   find_package  install nabla to WORK/prefix; find_package(nabla 0.2) there
#   build_tree    find_package(nabla 0.2) in nabla's build tree (no install)
#   pkg_config    install; compile with `pkg-config nabla`, shared, then
#                 libnabla.a with `pkg-config --static` (the private deps)
#   subdir        add_subdirectory(nabla's source) in a fresh project
# Every step must succeed and every program must exit 0. Run by CTest with
# -DMODE -DNABLA_SOURCE_DIR -DNABLA_BUILD_DIR -DWORK -DXOR_SOURCE -DCC
# -DGENERATOR -DVERSION -DMAJOR -DSHARED (BUILD_SHARED_LIBS) -DOPENCL
# (NABLA_OPENCL) [-DSANITIZE].

# run(step COMMAND...): run it, fail the test with its output if it fails.
function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${step} failed (${rc}):\n${ARGN}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

# The XOR program must have learned XOR with this version of nabla.
function(run_xor step)
  run(${step} ${ARGN})
  if(NOT run_out MATCHES "^nabla ${VERSION}: xor ")
    message(FATAL_ERROR "${step}: unexpected output: ${run_out}")
  endif()
  message(STATUS "${step}: ${run_out}")
endfunction()

# needs_shared(exe yes|no): whether exe loads libnabla.so.MAJOR.
function(needs_shared exe want)
  run("readelf -d ${exe}" readelf -d ${exe})
  string(FIND "${run_out}" "[libnabla.so.${MAJOR}]" at)
  if(want AND at LESS 0)
    message(FATAL_ERROR "${exe} should load libnabla.so.${MAJOR}:\n${run_out}")
  elseif(NOT want AND NOT at LESS 0)
    message(FATAL_ERROR "${exe} should hold nabla itself, not load libnabla.so:\n${run_out}")
  endif()
endfunction()

set(flags)
if(SANITIZE)
  set(flags -DCMAKE_C_FLAGS=-fsanitize=${SANITIZE} -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE})
endif()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(prefix ${WORK}/prefix)
if(MODE STREQUAL "find_package" OR MODE STREQUAL "pkg_config")
  run("install" ${CMAKE_COMMAND} --install ${NABLA_BUILD_DIR} --prefix ${prefix})
endif()

if(MODE STREQUAL "find_package" OR MODE STREQUAL "build_tree")
  if(MODE STREQUAL "find_package")
    set(where -DCMAKE_PREFIX_PATH=${prefix})
  else()
    set(where -Dnabla_DIR=${NABLA_BUILD_DIR})
  endif()
  set(src ${NABLA_SOURCE_DIR}/tests/consumer/find_package)
  run("configure" ${CMAKE_COMMAND} -S ${src} -B ${WORK}/build -G ${GENERATOR} -DCMAKE_C_COMPILER=${CC}
      ${where} -DXOR_SOURCE=${XOR_SOURCE} -DNABLA_EXPECT_VERSION=${VERSION} ${flags})
  run("build" ${CMAKE_COMMAND} --build ${WORK}/build)
  foreach(exe xor xor_shared xor_static)
    run_xor("${exe}" ${WORK}/build/${exe})
  endforeach()
  # nabla::nabla is the shared library exactly when nabla was built with
  # BUILD_SHARED_LIBS.
  needs_shared(${WORK}/build/xor "${SHARED}")
  needs_shared(${WORK}/build/xor_shared YES)
  needs_shared(${WORK}/build/xor_static NO)
  # The version file refuses a request for the next major version.
  set(PACKAGE_FIND_VERSION 1.0)
  set(PACKAGE_FIND_VERSION_MAJOR 1)
  set(PACKAGE_FIND_VERSION_MINOR 0)
  set(PACKAGE_FIND_VERSION_PATCH 0)
  set(PACKAGE_FIND_VERSION_COUNT 2)
  if(MODE STREQUAL "find_package")
    file(GLOB version_file ${prefix}/lib*/cmake/nabla/nablaConfigVersion.cmake
                           ${prefix}/lib/*/cmake/nabla/nablaConfigVersion.cmake)
  else()
    set(version_file ${NABLA_BUILD_DIR}/nablaConfigVersion.cmake)
  endif()
  include(${version_file})
  if(PACKAGE_VERSION_COMPATIBLE)
    message(FATAL_ERROR "nablaConfigVersion.cmake accepts a request for 1.0")
  endif()
elseif(MODE STREQUAL "pkg_config")
  find_program(PKG_CONFIG pkg-config REQUIRED)
  file(GLOB pc ${prefix}/lib*/pkgconfig/nabla.pc ${prefix}/lib/*/pkgconfig/nabla.pc)
  get_filename_component(pcdir "${pc}" DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} ${pcdir})
  run("pkg-config --modversion" ${PKG_CONFIG} --modversion nabla)
  string(STRIP "${run_out}" v)
  if(NOT v STREQUAL VERSION)
    message(FATAL_ERROR "pkg-config says nabla ${v}, expected ${VERSION}")
  endif()
  run("pkg-config --cflags" ${PKG_CONFIG} --cflags nabla)
  separate_arguments(cflags UNIX_COMMAND "${run_out}")
  run("pkg-config --libs" ${PKG_CONFIG} --libs nabla)
  separate_arguments(libs UNIX_COMMAND "${run_out}")
  run("pkg-config --static --libs" ${PKG_CONFIG} --static --libs nabla)
  separate_arguments(static_libs UNIX_COMMAND "${run_out}")
  run("pkg-config --variable=libdir" ${PKG_CONFIG} --variable=libdir nabla)
  string(STRIP "${run_out}" libdir)
  set(san)
  if(SANITIZE)
    set(san -fsanitize=${SANITIZE})
  endif()
  # Shared: the plain link line; the program finds libnabla.so.MAJOR by the path.
  run("cc (shared)" ${CC} ${san} ${XOR_SOURCE} ${cflags} ${libs} -o ${WORK}/xor_shared)
  needs_shared(${WORK}/xor_shared YES)
  run_xor("xor_shared" ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${libdir} ${WORK}/xor_shared)
  # Static: libnabla.a itself in place of -lnabla, then everything
  # Libs.private and Requires.private add; nothing else is given.
  list(TRANSFORM static_libs REPLACE "^-lnabla$" "${libdir}/libnabla.a")
  run("cc (static)" ${CC} ${san} ${XOR_SOURCE} ${cflags} ${static_libs} -o ${WORK}/xor_static)
  needs_shared(${WORK}/xor_static NO)
  run_xor("xor_static" ${WORK}/xor_static)
elseif(MODE STREQUAL "subdir")
  # The same choice of OpenCL backend as the build under test (whose
  # machine may lack the OpenCL headers).
  set(sub -DNABLA_OPENCL=${OPENCL})
  if(SANITIZE)
    list(APPEND sub -DNABLA_SANITIZE=${SANITIZE})
  endif()
  run("configure" ${CMAKE_COMMAND} -S ${NABLA_SOURCE_DIR}/tests/consumer/subdir -B ${WORK}/build
      -G ${GENERATOR} -DCMAKE_C_COMPILER=${CC} -DNABLA_SOURCE_DIR=${NABLA_SOURCE_DIR}
      -DXOR_SOURCE=${XOR_SOURCE} ${flags} ${sub})
  run("build" ${CMAKE_COMMAND} --build ${WORK}/build --target xor)
  run_xor("xor" ${WORK}/build/xor)
else()
  message(FATAL_ERROR "MODE must be find_package, build_tree, pkg_config or subdir, not '${MODE}'")
endif()
