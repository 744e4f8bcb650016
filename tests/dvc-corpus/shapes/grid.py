print('grid')
