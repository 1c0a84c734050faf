# install.cmake — what `cmake --install` puts under the prefix, and the
# package files that find nabla from there or from this build tree:
#   lib/            libnabla.a, libnabla.so.MAJOR (and its links)
#   include/        nabla.h, nabla_dist.h, nabla_version.h
#   bin/            nabla
#   share/man/man1  nabla.1
#   share/doc/nabla README.md, LICENSE, CHANGELOG.md
#   lib/cmake/nabla nablaConfig.cmake, nablaConfigVersion.cmake, targets
#   lib/pkgconfig   nabla.pc
# Included by the root CMakeLists.txt when NABLA_INSTALL is on.
include(CMakePackageConfigHelpers)

set(NABLA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/nabla)

install(TARGETS nabla_lib nabla_shared nabla_default EXPORT nablaTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/nabla.h ${PROJECT_SOURCE_DIR}/include/nabla_dist.h ${PROJECT_BINARY_DIR}/include/nabla_version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS nabla RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/docs/nabla.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/LICENSE
              ${PROJECT_SOURCE_DIR}/CHANGELOG.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The CMake package. Compatibility is SameMajorVersion: the ABI policy
# (README) keeps every 0.x release a compatible extension of the last, and a
# break bumps MAJOR together with the shared library's soname.
install(EXPORT nablaTargets NAMESPACE nabla:: DESTINATION ${NABLA_CMAKE_DIR})
export(EXPORT nablaTargets NAMESPACE nabla:: FILE ${PROJECT_BINARY_DIR}/nablaTargets.cmake)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/nablaConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/nablaConfig.cmake
                              INSTALL_DESTINATION ${NABLA_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/nablaConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/nablaConfig.cmake ${PROJECT_BINARY_DIR}/nablaConfigVersion.cmake
        DESTINATION ${NABLA_CMAKE_DIR})

# pkg-config. The prefix is found from the .pc file's own place, so that
# `cmake --install --prefix P` (chosen after configuring) gives a right file.
set(nabla_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE ${CMAKE_INSTALL_LIBDIR})
  set(NABLA_PC_PREFIX ${CMAKE_INSTALL_PREFIX})
else()
  file(RELATIVE_PATH nabla_pc_up /prefix/${nabla_pc_dir} /prefix)
  string(REGEX REPLACE "/$" "" nabla_pc_up "${nabla_pc_up}")
  set(NABLA_PC_PREFIX "\${pcfiledir}/${nabla_pc_up}")
endif()
if(IS_ABSOLUTE ${CMAKE_INSTALL_LIBDIR})
  set(NABLA_PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
else()
  set(NABLA_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE ${CMAKE_INSTALL_INCLUDEDIR})
  set(NABLA_PC_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
else()
  set(NABLA_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# A static link needs what libnabla.a calls: libm, the dynamic loader's
# library (OpenCL is opened at run time), POSIX threads, jansson and zlib.
set(NABLA_PC_DL "")
foreach(l ${CMAKE_DL_LIBS})
  string(APPEND NABLA_PC_DL " -l${l}")
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/nabla.pc.in ${PROJECT_BINARY_DIR}/nabla.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/nabla.pc DESTINATION ${nabla_pc_dir})
