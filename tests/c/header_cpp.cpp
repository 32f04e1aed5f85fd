// The header alone, compiled as C++ (-std=c++11 -Wall -Wextra -Wpedantic -Werror).
#include "keel.h"

extern "C" int keel_ctest_header_cpp(void);
extern "C" int keel_ctest_header_cpp(void) {
    keel_servo_output o = keel_servo_output();
    (void)o;
    return static_cast<int>(sizeof(keel_servo));
}
