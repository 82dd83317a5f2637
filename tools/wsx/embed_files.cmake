# Writes a C++ source that holds files as byte arrays, so that the web console is edited as
# plain HTML/CSS/JS files (console/) and still ships inside the one `wsx` binary.
# cmake -DOUTPUT=out.cpp -DFILES="a|b" -DBASE=dir -P embed_files.cmake
# Every file becomes {"name relative to BASE", bytes} (a file outside BASE: its file name);
# embedded_files() lists them.
set(body "// Generated from tools/wsx/console and js/wsx.js by embed_files.cmake: edit those files, not this one.\n")
string(APPEND body "#include \"embedded_files.hpp\"\n\nnamespace wsx::tool {\nnamespace {\n\n")
string(REPLACE "|" ";" FILES "${FILES}")
set(entries "")
set(index 0)
foreach(file ${FILES})
  file(READ ${file} hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){24})" "\\1\n    " bytes "${bytes}")
  file(RELATIVE_PATH name ${BASE} ${file})
  if(name MATCHES "^\\.\\./")  # from elsewhere in the tree (js/wsx.js): by its own name
    get_filename_component(name ${file} NAME)
  endif()
  string(APPEND body "const unsigned char file_${index}[${size} + 1] = {\n    ${bytes}0x00};\n\n")
  string(APPEND entries "    {\"${name}\", {reinterpret_cast<const char*>(file_${index}), ${size}}},\n")
  math(EXPR index "${index} + 1")
endforeach()
string(APPEND body "const EmbeddedFile files[] = {\n${entries}};\n\n}  // namespace\n\n")
string(APPEND body "std::span<const EmbeddedFile> embedded_files() noexcept {\n  return files;\n}\n\n")
string(APPEND body "}  // namespace wsx::tool\n")
# Rewritten only when different: an unchanged console does not relink wsx.
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT "${old}" STREQUAL "${body}")
  file(WRITE ${OUTPUT} "${body}")
endif()
