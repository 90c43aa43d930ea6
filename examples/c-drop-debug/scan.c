/* The byte classes of scan.h. */
#include "scan.h"

#define SEP_(c) [c] = SCAN_SEP
#define DIGITS_                                                                              \
    ['0'] = SCAN_ALNUM, ['1'] = SCAN_ALNUM, ['2'] = SCAN_ALNUM, ['3'] = SCAN_ALNUM,          \
    ['4'] = SCAN_ALNUM, ['5'] = SCAN_ALNUM, ['6'] = SCAN_ALNUM, ['7'] = SCAN_ALNUM,          \
    ['8'] = SCAN_ALNUM, ['9'] = SCAN_ALNUM
#define LETTER_(c) [c] = SCAN_ALNUM, [c + 32] = SCAN_ALNUM

const uint8_t scan_class[256] = {
    /* Separators: space, comma, and \t \n \v \f \r. */
    SEP_(' '), SEP_(','), SEP_('\t'), SEP_('\n'), SEP_('\v'), SEP_('\f'), SEP_('\r'),
    /* Key-value separators. */
    ['='] = SCAN_KV, [':'] = SCAN_KV,
    DIGITS_,
    LETTER_('A'), LETTER_('B'), LETTER_('C'), LETTER_('D'), LETTER_('E'), LETTER_('F'),
    LETTER_('G'), LETTER_('H'), LETTER_('I'), LETTER_('J'), LETTER_('K'), LETTER_('L'),
    LETTER_('M'), LETTER_('N'), LETTER_('O'), LETTER_('P'), LETTER_('Q'), LETTER_('R'),
    LETTER_('S'), LETTER_('T'), LETTER_('U'), LETTER_('V'), LETTER_('W'), LETTER_('X'),
    LETTER_('Y'), LETTER_('Z'),
};
