print('pin')
